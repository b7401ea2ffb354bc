"""COPY and ADD: choose the entries, key them by content, and write them into a rootfs
(through the confined applier) or straight into a layer (--link)."""

from __future__ import annotations

import os
import posixpath
import stat
import time
from array import array

from distill.build.context.source import Entry, SourceTree, has_wildcard, stat_facts
from distill.digest import Sha256
from distill.errors import DistillError
from distill.image.layers.tarstream import BLK, BLOCK, CHR, DIR, FIFO, REG, SYMLINK
from distill.record import Record


class CopyItem:
    """One entry to write: shaped like a tar entry so the layer applier can take it (a plain
    class: a COPY may make thousands)."""

    __slots__ = ("name", "type", "mode", "uid", "gid", "mtime", "size", "linkname", "source", "data",
                 "devmajor", "devminor", "xattrs", "digest", "_f", "_at")

    def __init__(self, name: str, type: str, mode: int, uid: int, gid: int, mtime: float, size: int = 0,
                 linkname: str = "", source: str | None = None, data: bytes | None = None, devmajor: int = 0,
                 devminor: int = 0, xattrs: dict | None = None, digest: str | None = None):
        self.name = name  # path in the image, without the leading /
        self.type, self.mode, self.uid, self.gid, self.mtime, self.size = type, mode, uid, gid, mtime, size
        self.linkname, self.source, self.data = linkname, source, data
        self.devmajor, self.devminor = devmajor, devminor
        self.xattrs = {} if xattrs is None else xattrs
        self.digest = digest  # of the content, where known without reading (context files)
        self._f = None
        self._at = 0

    def __repr__(self) -> str:
        return f"CopyItem({self.name!r}, {self.type!r}, size={self.size})"

    def read(self, n: int = -1) -> bytes:
        """The content, for the layer applier. `data` stays whole: the tar writer may be
        reading it at the same time."""
        if self.data is not None:
            out = self.data[self._at:] if n < 0 else self.data[self._at:self._at + n]
            self._at += len(out)
            return out
        if self.type != REG or self.source is None:
            return b""
        if self._f is None:
            self._f = open(self.source, "rb")
        chunk = self._f.read(n if n > 0 else 1 << 20)
        if not chunk:
            self._f.close()
        return chunk


_TYPES = {stat.S_IFDIR: DIR, stat.S_IFLNK: SYMLINK, stat.S_IFIFO: FIFO, stat.S_IFCHR: CHR, stat.S_IFBLK: BLK}


def _type_of(st: os.stat_result) -> str:
    return _TYPES.get(stat.S_IFMT(st.st_mode), REG)


class Selection(Record):
    """What one COPY/ADD reads: (source pattern, matched relative paths) in order."""

    matches: list[tuple[str, list[str]]]

    @property
    def count(self) -> int:
        return sum(len(m) for _, m in self.matches)


def select(tree: SourceTree, sources: list[str], what: str, empty_wildcard: bool = False,
           origin: str | None = None) -> Selection:
    """What each source names. `empty_wildcard`: a wildcard may match nothing (COPY and ADD,
    as in BuildKit); a plain name must exist. `origin`: where a --from source is read
    ("stage builder"), for the error."""
    out = []
    for src in sources:
        found = tree.matches(src)
        if not found and empty_wildcard and has_wildcard(src):
            continue
        if not found:
            where = "build context" if tree.is_context else origin or "stage"
            hint = " or excluded by .dockerignore" if tree.is_context else ""
            raise DistillError(f"{what}: {src}: not found in {where}{hint}")
        out.append((src, found))
    return Selection(out)


def content_key(tree: SourceTree, sel: Selection, exclude) -> str:
    """One digest of the paths, types, modes, owners (stages only) and contents of
    everything selected. From the context, the stat facts of the selection are looked up
    first: the same facts as an earlier build mean the same key, with no file read."""
    signature = _stat_signature(tree, sel, exclude) if tree.is_context else None
    if signature and signature in tree.cache.keys:
        return tree.cache.keys[signature]
    h = Sha256()
    digest = tree.content_digest
    for src, found in sel.matches:
        for rel in found:
            head = f"{src}\0{rel}\0"
            rows = []
            for e in tree.walk(rel, "", exclude):
                st = e.st
                owner = "" if tree.is_context else f"{st.st_uid}:{st.st_gid}"
                rows.append(f"{head}{e.dest}\0{st.st_mode:o}\0{owner}\0{digest(e)}\n")
            h.update("".join(rows).encode("utf-8", "surrogateescape"))
    key = "sha256:" + h.hexdigest()
    if signature:
        tree.cache.remember_key(signature, key)
    return key


def _stat_signature(tree: SourceTree, sel: Selection, exclude) -> str | None:
    """What the stat cache trusts about every selected file (stat_facts), with the names
    and link targets the key covers. The numbers go in as int64s: formatting 80,000 of
    them in decimal cost more than the rest. None (no memo) if one does not fit."""
    h = Sha256(b"stat-signature 3\n")
    facts = array("q")
    add = facts.extend
    try:
        for src, found in sel.matches:
            for rel in found:
                head = f"{src}\0{rel}\0"
                names = []
                for e in tree.walk(rel, "", exclude):
                    names.append(f"{head}{e.dest}\0{e.linkname}\n")
                    add(stat_facts(e.st))
                h.update("".join(names).encode("utf-8", "surrogateescape"))
    except OverflowError:  # an inode number past 2**63
        return None
    h.update(facts.tobytes())
    return h.hexdigest()


def parse_chmod(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise DistillError(f"invalid --chmod value {text!r}: an octal mode is expected") from None
    if mode < 0 or mode > 0o7777:
        raise DistillError(f"invalid --chmod value {text!r}")
    return mode


def dest_path(dest: str, workdir: str) -> str:
    """A COPY/ADD destination as an absolute, clean path in the image."""
    return posixpath.normpath(dest if dest.startswith("/") else posixpath.join(workdir, dest))


def plan_items(tree: SourceTree, sel: Selection, dest: str, workdir: str, image,
               owner: tuple[int, int] | None, chmod: int | None, exclude, parents: bool,
               what: str, placed: list | None = None) -> list[CopyItem]:
    """The entries to write, with their final names. `image` answers is_dir/is_link for
    the image the copy lands on (confined.RootView, direct.UnionView; None for --link:
    nothing exists there yet). `placed` gets (source path, destination path) for each
    source matched, as the build record shows them."""
    dest_abs = dest_path(dest, workdir)
    trailing = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    dest_is_dir = trailing or (image is not None and image.is_dir(dest_abs))
    if sel.count > 1 and not dest_is_dir:
        raise DistillError(f"{what}: when copying more than one source, the destination must be a "
                           f"directory and end with a /")
    items: list[CopyItem] = []
    created: set[str] = set()
    now = time.time()

    def ensure_dirs(path: str) -> None:
        # Directories the copy needs that the image lacks: 0755, owned per --chown, made now
        # (as BuildKit's mkdir makes them).
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d in created:
                continue
            created.add(d)
            if image is not None and (image.is_dir("/" + d) or image.is_link("/" + d)):
                continue  # a symlink is followed (inside the image) by the applier, not replaced
            uid, gid = owner if owner else (0, 0)
            items.append(CopyItem(d, DIR, 0o755, uid, gid, now))

    for src, found in sel.matches:
        for rel in found:
            host_entries = tree.walk(rel, "", exclude)
            top_is_dir = _is_dir_source(tree, rel)
            if parents:
                base = posixpath.join(dest_abs, rel)
            elif top_is_dir:
                base = dest_abs
            elif dest_is_dir:
                base = posixpath.join(dest_abs, posixpath.basename(rel))
            else:
                base = dest_abs
            if placed is not None:
                placed.append((source_path(tree, rel), base))
            if top_is_dir:
                ensure_dirs(base)
            else:
                ensure_dirs(posixpath.dirname(base))
            for e in host_entries:  # once per file: string building, not posixpath
                item = _item(tree, e, (f"{base}/{e.dest}" if e.dest else base).lstrip("/"), owner, chmod)
                items.append(item)
                if item.type == DIR:
                    created.add(item.name)
    return items


def source_path(tree: SourceTree, rel: str) -> str:
    """A matched source as people name it: relative in the context, absolute in an image."""
    if tree.is_context:
        return rel or "."
    return "/" + rel


def _is_dir_source(tree: SourceTree, rel: str) -> bool:
    host, _ = tree.resolve(rel)
    return os.path.isdir(host)


def _item(tree: SourceTree, e: Entry, name: str, owner, chmod) -> CopyItem:
    st = e.st
    typ = _type_of(st)
    if owner:
        uid, gid = owner
    elif tree.is_context:
        uid, gid = 0, 0
    else:
        uid, gid = st.st_uid, st.st_gid
    mode = stat.S_IMODE(st.st_mode)
    if chmod is not None and typ in (REG, DIR):
        mode = chmod
    item = CopyItem(name, typ, mode, uid, gid, st.st_mtime, linkname=e.linkname, source=e.source)
    if typ == REG:
        item.size = st.st_size
        if tree.is_context:  # the stat cache has it
            item.digest = tree.content_digest(e)
    if typ in (CHR, BLK):
        item.devmajor, item.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return item


def heredoc_item(name: str, content: bytes, owner, chmod, created_by_mtime: float) -> CopyItem:
    uid, gid = owner if owner else (0, 0)
    return CopyItem(name.lstrip("/"), REG, chmod if chmod is not None else 0o644, uid, gid, created_by_mtime,
                    size=len(content), data=content)


def write_tar(items: list[CopyItem], out, splice=None, rows: list | None = None) -> dict[str, int]:
    """The items as a tar (for --link and the direct COPY they are the layer), its table of
    contents into `rows` when given. Returns where each entry starts. `splice`
    (direct.Splice) may take an entry's bytes from a previous layer instead."""
    from distill.image.layers.create import TarWriter, clamp_mtime, source_date_epoch, ustar

    if rows is not None:
        from distill.image.layers.toc import make_row
    epoch = source_date_epoch()
    w = TarWriter(out, epoch)
    starts: dict[str, int] = {}
    pos = 0
    for it in items:
        size = it.size if it.type == REG else 0
        mtime = clamp_mtime(it.mtime, epoch)
        header = None if it.xattrs else ustar(it.name, it.mode, it.uid, it.gid, size, mtime, it.type.encode(),
                                              it.linkname, it.devmajor, it.devminor)
        if header is None:  # PAX records needed
            header = w.header(_tar_info(it))
        starts[it.name] = pos
        if rows is not None:
            rows.append(make_row(it.name, it.type, it.mode, it.uid, it.gid, size, mtime, it.linkname,
                                 pos + len(header), it.devmajor, it.devminor, it.xattrs))
        pos += len(header) + size + (-size % BLOCK)
        if splice is None or not splice.take(it, header, out):
            w.entry(header, size, it.data if it.data is not None else it.source)
    if splice is not None:
        splice.flush(out)
    w.close()
    return starts


def _tar_info(it: CopyItem):
    import tarfile

    info = tarfile.TarInfo(it.name)
    info.mode, info.uid, info.gid, info.mtime = it.mode, it.uid, it.gid, int(it.mtime)
    info.type, info.linkname = it.type.encode(), it.linkname  # tarstream's types are tar's
    if it.xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in it.xattrs.items()}
    if it.type == REG:
        info.size = it.size
    if it.type in (CHR, BLK):
        info.devmajor, info.devminor = it.devmajor, it.devminor
    return info
