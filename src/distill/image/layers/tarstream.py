"""A streaming reader for layer tars (ustar, PAX, GNU long names), strict about limits.

Layer tars come from strangers: every header field is bounded before it is used, so an
oversize PAX record or GNU long name cannot make us allocate or read without limit.
"""

from __future__ import annotations

from collections.abc import Iterator

from distill.errors import UnsafeLayer

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms of a start
if TYPE_CHECKING:
    from typing import BinaryIO

BLOCK = 512
PAX_MAX = 1 << 20          # a PAX header larger than this is refused
LONGNAME_MAX = 64 << 10    # likewise a GNU long name or long link
MAX_PATH = 16 << 10

REG, HARDLINK, SYMLINK, CHR, BLK, DIR, FIFO = "0", "1", "2", "3", "4", "5", "6"
_REG_ALIASES = {"\0": REG, "7": REG}
_TYPES = frozenset((REG, HARDLINK, SYMLINK, CHR, BLK, DIR, FIFO))


class Entry:
    """One member of a layer tar (a plain class: a layer has thousands)."""

    __slots__ = ("name", "type", "mode", "uid", "gid", "size", "mtime", "linkname", "devmajor", "devminor",
                 "xattrs", "offset", "_reader")

    def __init__(self, name: str, type: str, mode: int = 0o644, uid: int = 0, gid: int = 0, size: int = 0,
                 mtime: float = 0.0, linkname: str = "", devmajor: int = 0, devminor: int = 0,
                 xattrs: dict[str, bytes] | None = None, _reader: "TarReader | None" = None):
        self.name, self.type, self.mode, self.uid, self.gid = name, type, mode, uid, gid
        self.size, self.mtime, self.linkname, self.devmajor, self.devminor = size, mtime, linkname, devmajor, devminor
        self.xattrs = {} if xattrs is None else xattrs
        self.offset = 0  # where the data starts in the (uncompressed) tar, set by TarReader
        self._reader = _reader

    def __repr__(self) -> str:
        return f"Entry({self.name!r}, {self.type!r}, size={self.size})"

    def read(self, n: int = -1) -> bytes:
        return self._reader._read_data(n) if self._reader else b""


def split_name(name: str, what: str = "entry") -> list[str]:
    """Components of a tar member name, cleaned as docker cleans them (lexically: `x/../y`
    is `y`); refuses absolute names, a `..` that climbs above the root, and NUL."""
    if name.startswith("/"):
        raise UnsafeLayer(f"layer {what} {name!r} is an absolute path")
    if "\0" in name:
        raise UnsafeLayer(f"layer {what} {name!r} contains a NUL byte")
    parts: list[str] = []
    for p in name.split("/"):
        if p == "..":
            if not parts:
                raise UnsafeLayer(f"layer {what} {name!r} climbs out of the root with '..'")
            parts.pop()
        elif p not in ("", "."):
            parts.append(p)
    return parts


def _field_str(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _field_num(b: bytes, what: str) -> int:
    if b and b[0] & 0x80:  # base-256, GNU extension for large values
        n = int.from_bytes(b[1:], "big")
        return -n if b[0] & 0x40 else n
    s = b.split(b"\0", 1)[0].strip(b" \0")
    if not s:
        return 0
    try:
        return int(s, 8)
    except ValueError:
        raise UnsafeLayer(f"malformed tar header: bad {what} field {s[:20]!r}") from None


def _pax_text(pax: dict, key: str, default: str) -> str:
    return pax[key].decode("utf-8", "surrogateescape") if key in pax else default


def _pax_number(pax: dict, key: str, default, cast):
    if key not in pax:
        return default
    try:
        return cast(pax[key].decode())
    except ValueError:
        raise UnsafeLayer(f"malformed PAX {key} value") from None


def _checksum_ok(block: bytes, stored: int) -> bool:
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    return stored == unsigned


def parse_pax(data: bytes) -> dict[str, bytes]:
    """Records of `len key=value\\n`; values kept as bytes (xattrs may be binary)."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        sp = data.find(b" ", pos)
        if sp < 0:
            raise UnsafeLayer("malformed PAX header")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise UnsafeLayer("malformed PAX header length") from None
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1 : end] != b"\n":
            raise UnsafeLayer("malformed PAX record")
        key, eq, value = data[sp + 1 : end - 1].partition(b"=")
        if not eq:
            raise UnsafeLayer("malformed PAX record")
        out[key.decode("utf-8", "surrogateescape")] = value
        pos = end
    return out


class TarReader:
    def __init__(self, stream: BinaryIO, size: int | None = None):
        """`size`: the stream is a plain file of that many bytes, so data an iteration
        does not read is skipped by seeking, not read."""
        self._f = stream
        self._size = size
        self._remaining = 0  # unread data bytes of the current entry
        self._padding = 0
        self.pos = 0  # bytes of the tar consumed so far

    def _read_exact(self, n: int) -> bytes:
        chunks, need = [], n
        while need:
            b = self._f.read(need)
            if not b:
                raise UnsafeLayer("truncated tar archive")
            chunks.append(b)
            need -= len(b)
        self.pos += n
        return b"".join(chunks)

    def _read_data(self, n: int) -> bytes:
        if self._remaining <= 0:
            return b""
        if n < 0 or n > self._remaining:
            n = self._remaining
        data = self._f.read(n)
        if not data:
            raise UnsafeLayer("truncated tar archive")
        self._remaining -= len(data)
        self.pos += len(data)
        return data

    def _skip_rest(self) -> None:
        if self._size is not None and self._remaining + self._padding:
            end = self.pos + self._remaining + self._padding
            if end > self._size:
                raise UnsafeLayer("truncated tar archive")
            self._f.seek(end)
            self.pos, self._remaining, self._padding = end, 0, 0
            return
        while self._remaining:
            self._read_data(1 << 20)
        if self._padding:
            self._read_exact(self._padding)
            self._padding = 0

    def _read_block_payload(self, size: int, limit: int, what: str) -> bytes:
        if size > limit:
            raise UnsafeLayer(f"tar {what} of {size} bytes exceeds the limit of {limit}")
        data = self._read_exact(size)
        pad = -size % BLOCK
        if pad:
            self._read_exact(pad)
        return data

    def __iter__(self) -> Iterator[Entry]:
        pax_global: dict[str, bytes] = {}
        pax: dict[str, bytes] = {}
        longname = longlink = None
        while True:
            self._skip_rest()
            block = self._f.read(BLOCK)
            self.pos += len(block)
            if len(block) < BLOCK:
                if not block:
                    return  # EOF without end blocks: tolerated, as docker does
                block += self._read_exact(BLOCK - len(block))
            if block == b"\0" * BLOCK:
                return
            if not _checksum_ok(block, _field_num(block[148:156], "checksum")):
                raise UnsafeLayer("malformed tar header: checksum mismatch")
            typ = chr(block[156]) if block[156] else "\0"
            size = _field_num(block[124:136], "size")
            if size < 0:
                raise UnsafeLayer("malformed tar header: negative size")
            if typ in ("x", "g"):
                rec = parse_pax(self._read_block_payload(size, PAX_MAX, "PAX header"))
                (pax_global if typ == "g" else pax).update(rec)
                continue
            if typ in ("L", "K"):
                data = self._read_block_payload(size, LONGNAME_MAX, "long name")
                value = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if typ == "L":
                    longname = value
                else:
                    longlink = value
                continue
            headers = {**pax_global, **pax} if pax_global or pax else pax
            entry = self._entry(block, typ, size, headers, longname, longlink)
            pax, longname, longlink = {}, None, None
            self._remaining = entry.size if entry.type == REG else 0
            self._padding = (-entry.size % BLOCK) if entry.type == REG else 0
            if entry.type != REG and size:
                # data on a non-file entry is skipped, never interpreted
                self._remaining, self._padding = size, -size % BLOCK
                entry.size = 0
            entry._reader = self
            entry.offset = self.pos
            yield entry

    def _entry(self, block, typ, size, pax, longname, longlink) -> Entry:
        typ = _REG_ALIASES.get(typ, typ)
        if typ not in _TYPES:
            raise UnsafeLayer(f"unsupported tar entry type {typ!r}")
        name = _field_str(block[0:100])
        if block[257:262] == b"ustar" and block[345]:
            name = f"{_field_str(block[345:500])}/{name}"
        if longname is not None:
            name = longname
        linkname = longlink if longlink is not None else (_field_str(block[157:257]) if block[157] else "")
        uid, gid = _field_num(block[108:116], "uid"), _field_num(block[116:124], "gid")
        mtime = float(_field_num(block[136:148], "mtime"))
        xattrs = None
        if pax:  # most entries have none: their fields come from the header alone
            if any(k.startswith("GNU.sparse") for k in pax):
                raise UnsafeLayer("sparse tar entries are not supported")
            name = _pax_text(pax, "path", name)
            linkname = _pax_text(pax, "linkpath", linkname)
            uid, gid = _pax_number(pax, "uid", uid, int), _pax_number(pax, "gid", gid, int)
            size = _pax_number(pax, "size", size, int)
            mtime = _pax_number(pax, "mtime", mtime, float)
            xattrs = {k[len("SCHILY.xattr."):]: v for k, v in pax.items() if k.startswith("SCHILY.xattr.")}
        device = typ in (CHR, BLK)
        entry = Entry(name, typ, _field_num(block[100:108], "mode") & 0o7777, uid, gid, size, mtime, linkname,
                      _field_num(block[329:337], "devmajor") if device else 0,
                      _field_num(block[337:345], "devminor") if device else 0, xattrs)
        if len(name) > MAX_PATH or len(linkname) > MAX_PATH:
            raise UnsafeLayer("tar entry name longer than the limit")
        if size < 0 or uid < 0 or gid < 0:
            raise UnsafeLayer(f"malformed tar header for {name!r}")
        return entry
