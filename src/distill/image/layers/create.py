"""Layer tars from a directory tree or an overlayfs upper dir, deterministically.

Sorted entries (depth first, names byte-sorted), PAX headers, numeric owners only, hard
links as links, xattrs kept (security.capability matters), mtimes clamped to
SOURCE_DATE_EPOCH when it is set. From an overlay upper dir, a 0/0 character device
becomes a `.wh.NAME` whiteout and an opaque directory gains `.wh..wh..opq`.
"""

from __future__ import annotations

import os
import stat

from distill.image.layers.tarstream import BLK, BLOCK, CHR, DIR

TYPE_CHECKING = False  # tarfile, for TarInfo, is imported where one is made: a COPY needs none
if TYPE_CHECKING:
    import tarfile

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_COPY_CHUNK = 1 << 20
_XATTR = "SCHILY.xattr."


def source_date_epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        from distill.errors import DistillError

        raise DistillError(f"SOURCE_DATE_EPOCH must be an integer, got {value!r}") from None


def clamp_mtime(mtime: float, epoch: int | None) -> int:
    """The whole-second mtime a layer records: never past SOURCE_DATE_EPOCH when it is set."""
    return int(mtime if epoch is None or mtime <= epoch else epoch)


def xattrs_of(path: str) -> dict[str, bytes]:
    """A file's extended attributes as a layer keeps them: overlayfs' own and SELinux labels left out."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.startswith(_OVERLAY_XATTRS) or name == "security.selinux":
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            pass
    return out


def _is_opaque(path: str) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


class TarWriter:
    """Writes tar entries to a binary sink; `close` writes the end-of-archive blocks. Given
    a list of `rows`, the table of contents (toc.py) of what add() writes goes into it."""

    def __init__(self, out, epoch: int | None = None, rows: list | None = None):
        self.out = out
        self.epoch = epoch
        self.rows = rows
        self.position = 0  # bytes written so far
        if rows is not None:
            from distill.image.layers.toc import make_row

            self._row = make_row

    def header(self, info: tarfile.TarInfo) -> bytes:
        """The bytes before an entry's data: its ustar header, with PAX records when needed."""
        info.uname = info.gname = ""
        info.mtime = clamp_mtime(info.mtime, self.epoch)
        if header := ustar_header(info):
            return header
        import tarfile

        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def add(self, info: tarfile.TarInfo, source: str | bytes | None = None) -> None:
        """An entry from its TarInfo; a regular file's data read from the path `source`,
        or given as bytes."""
        header = self.header(info)
        if self.rows is not None:
            xattrs = {k[len(_XATTR):]: v.encode("utf-8", "surrogateescape")
                      for k, v in info.pax_headers.items() if k.startswith(_XATTR)}
            self.rows.append(self._row(info.name, info.type.decode(), info.mode, info.uid, info.gid, info.size,
                                      info.mtime, info.linkname, self.position + len(header), info.devmajor,
                                      info.devminor, xattrs))
        self.entry(header, info.size if info.isreg() else 0, source)

    def entry(self, header: bytes, size: int, source=None) -> None:
        """A ready header, then `size` bytes of data from `source`: a path, bytes, or a
        readable stream."""
        self.out.write(header)
        self.position += len(header) + size + (-size % BLOCK)
        if not size:
            return
        if isinstance(source, bytes):
            self.out.write(source)
        elif isinstance(source, str):
            with open(source, "rb") as f:
                self._copy(f, size, f"{source} shrank while being archived")
        else:
            self._copy(source, size, "the data ended before the size its header gives")
        pad = -size % BLOCK
        if pad:
            self.out.write(b"\0" * pad)

    def _copy(self, f, size: int, short: str) -> None:
        written = 0
        while written < size:
            chunk = f.read(min(_COPY_CHUNK, size - written))
            if not chunk:
                raise OSError(short)
            self.out.write(chunk)
            written += len(chunk)

    def close(self) -> None:
        self.out.write(b"\0" * (2 * BLOCK))
        self.position += 2 * BLOCK


_OCTAL7 = 8**7
_OCTAL11 = 8**11


def ustar_header(info: tarfile.TarInfo) -> bytes | None:
    """The header tarfile would write for a plain entry, built directly (tarfile's own
    path costs ~40 µs an entry); None when the entry needs PAX records."""
    if info.pax_headers:
        return None
    return ustar(info.name, info.mode, info.uid, info.gid, info.size, info.mtime, info.type, info.linkname,
                 info.devmajor, info.devminor)


def ustar(name: str, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes, linkname: str = "",
          devmajor: int = 0, devminor: int = 0) -> bytes | None:
    """ustar_header from the fields themselves (no TarInfo to make). A directory's name
    ends in "/", as tarfile writes it. The checksum adds up the non-zero pieces only:
    summing all 512 bytes was a third of the cost."""
    if kind == _DIRTYPE and not name.endswith("/"):
        name += "/"
    if (not name.isascii() or len(name) > 100 or not linkname.isascii() or len(linkname) > 100
            or not 0 <= uid < _OCTAL7 or not 0 <= gid < _OCTAL7 or not 0 <= size < _OCTAL11
            or not 0 <= mtime < _OCTAL11 or not 0 <= devmajor < _OCTAL7 or not 0 <= devminor < _OCTAL7):
        return None
    name_b, link_b = name.encode(), linkname.encode()
    fields = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode & 0o7777, uid, gid, size, mtime)
    if kind in _DEVTYPES:  # tarfile leaves them empty otherwise
        devices = b"%07o\0%07o\0" % (devmajor, devminor)
    else:
        devices = b""
    checksum = sum(name_b) + sum(fields) + _BLANK_CHECKSUM + kind[0] + sum(link_b) + _MAGIC_SUM + sum(devices)
    return b"".join((
        name_b, bytes(100 - len(name_b)), fields, b"%06o\0 " % checksum, kind,
        link_b, bytes(100 - len(link_b)), _MAGIC, bytes(64), devices, bytes(512 - 329 - len(devices)),
    ))


_DIRTYPE, _DEVTYPES = DIR.encode(), (CHR.encode(), BLK.encode())  # ustar's `kind` is bytes
_MAGIC = b"ustar\x0000"
_MAGIC_SUM = sum(_MAGIC)
_BLANK_CHECKSUM = 8 * ord(" ")  # the checksum field counts as spaces


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    import tarfile

    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    return info


def write_tree(root: str, out, overlay_upper: bool = False, epoch: int | None = None, rows: list | None = None) -> int:
    """Write the tree under `root` (root itself excluded) as a tar to `out`, its table of
    contents into `rows` when given. Returns entries."""
    import tarfile

    writer = TarWriter(out, source_date_epoch() if epoch is None else epoch, rows)
    links: dict[tuple[int, int], str] = {}
    count = 0

    def walk(abs_dir: str, rel_dir: str) -> None:
        nonlocal count
        with os.scandir(abs_dir) as it:
            names = sorted((e.name for e in it), key=os.fsencode)
        for name in names:
            abs_path = os.path.join(abs_dir, name)
            rel = f"{rel_dir}{name}"
            st = os.lstat(abs_path)
            mode = st.st_mode
            if overlay_upper and stat.S_ISCHR(mode) and st.st_rdev == 0:
                info = _info(f"{rel_dir}{WHITEOUT_PREFIX}{name}", st)
                info.mode, info.uid, info.gid = 0, 0, 0
                writer.add(info)
                count += 1
                continue
            if stat.S_ISSOCK(mode):
                continue  # sockets cannot be archived, as in docker
            info = _info(rel, st)
            info.pax_headers = {
                f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs_of(abs_path).items()
            }
            key = (st.st_dev, st.st_ino)
            if not stat.S_ISDIR(mode) and st.st_nlink > 1 and key in links:
                info.type, info.linkname, info.size = tarfile.LNKTYPE, links[key], 0
                info.pax_headers = {}
                writer.add(info)
                count += 1
                continue
            if stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISREG(mode):
                info.type, info.size = tarfile.REGTYPE, st.st_size
                if st.st_nlink > 1:
                    links[key] = rel
            elif stat.S_ISLNK(mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(abs_path)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
            else:
                continue
            writer.add(info, abs_path)
            count += 1
            if stat.S_ISDIR(mode):
                if overlay_upper and _is_opaque(abs_path):
                    marker = _info(f"{rel}/{OPAQUE}", st)
                    marker.mode, marker.uid, marker.gid = 0, 0, 0
                    writer.add(marker)
                    count += 1
                walk(abs_path, f"{rel}/")

    walk(os.fspath(root), "")
    writer.close()
    return count
