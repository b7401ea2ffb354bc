"""An image's flattened filesystem as one tar, as `crane export` and `docker export`
give it: what a container of the image would see, with no whiteouts. Directories,
symlinks and devices first (parents before children), then each layer's files in one
pass over that layer; a second name for the same inode is written as a hard link to the
first, as tar does."""

from __future__ import annotations

from distill.image.layers.create import TarWriter, ustar
from distill.image.layers.tarstream import DIR, HARDLINK, REG
from distill.image.imagefs.fs import ImageFS


def export(fs: ImageFS, out) -> int:
    """Writes the tar to `out` (a binary sink); returns the number of entries."""
    w = TarWriter(out)
    files = []
    count = 0
    for path, node in fs.walk("/"):
        inode = node.inode
        if inode.type == REG:
            files.append((path[1:], node))
            continue
        _write(w, path[1:], inode)
        count += 1
    # one name per inode carries the content; the others follow as hard links to it
    first: dict[int, tuple[str, object]] = {}
    links = []
    for name, node in files:
        key = id(node.inode)
        if key in first:
            links.append((name, node, first[key][0]))
        else:
            first[key] = (name, node)
    names = {id(n): name for name, n in first.values()}
    for node, stream in fs.contents([n for _, n in first.values()]):
        _write(w, names[id(node)], node.inode, stream=stream)
        count += 1
    for name, node, target in links:
        _write(w, name, node.inode, link=target)
        count += 1
    w.close()
    return count


def _write(w: TarWriter, name: str, inode, stream=None, link: str | None = None) -> None:
    kind = HARDLINK if link is not None else inode.type
    size = inode.size if kind == REG else 0
    linkname = link if link is not None else inode.linkname
    header = None if inode.xattrs else ustar(name, inode.mode, inode.uid, inode.gid, size, inode.mtime, kind.encode(),
                                             linkname, inode.devmajor, inode.devminor)
    if header is None:
        header = w.header(_info(name, inode, kind, size, linkname))
    w.entry(header, size, stream)


def _info(name: str, inode, kind: str, size: int, linkname: str):
    import tarfile

    info = tarfile.TarInfo(name + "/" if kind == DIR else name)
    info.mode, info.uid, info.gid, info.mtime, info.size = inode.mode, inode.uid, inode.gid, inode.mtime, size
    info.type, info.linkname = kind.encode(), linkname
    info.devmajor, info.devminor = inode.devmajor, inode.devminor
    if inode.xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": bytes.fromhex(v).decode("utf-8", "surrogateescape")
                            for k, v in inode.xattrs.items()}
    return info
