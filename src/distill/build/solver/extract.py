"""What a COPY --from reads of an image or stage whose layers are not unpacked: only the
paths it names, written from the layers (imagefs) into a scratch directory, instead of
unpacking every layer to mount them. Symlinks on the way (a merged /usr's /lib) are
written as they are and their targets written too, so the copy resolves them as it would
in a mount."""

from __future__ import annotations

import os

from distill.build.context.source import has_wildcard
from distill.errors import DistillError
from distill.image.imagefs import ImageFS

MAX_HOPS = 40


def extracted(fs: ImageFS, sources: list[str], dest: str) -> str:
    """`dest` holding every path `sources` (COPY source patterns) can reach in `fs`."""
    os.makedirs(dest, exist_ok=True)
    done: dict[str, object] = {}  # path written → its node
    for pattern in sources:
        comps = [p for p in pattern.split("/") if p not in ("", ".")]
        fixed = []
        for c in comps:
            if has_wildcard(c):
                break
            fixed.append(c)
        _extract(fs, fixed, dest, done, 0)
    # writing into a directory dated it now: the image's dates, deepest first
    for path in sorted((p for p, n in done.items() if n.inode.type == "5"), key=lambda p: -p.count("/")):
        mtime = done[path].inode.mtime
        os.utime(os.path.join(dest, path), (mtime, mtime))
    return dest


def _extract(fs: ImageFS, comps: list[str], dest: str, done: dict, hops: int) -> None:
    """Writes the path `comps` (and, for a directory, all below it) into `dest`."""
    if hops > MAX_HOPS:
        raise DistillError(f"/{'/'.join(comps)}: too many levels of symbolic links")
    node = fs.tree.root
    for i, part in enumerate(comps):
        if part == "..":
            _extract(fs, comps[:max(i - 1, 0)] + comps[i + 1:], dest, done, hops + 1)
            return
        child = (node.children or {}).get(part)
        if child is None:
            return  # nothing there: the copy says so, as from a mount
        path = "/".join(comps[:i + 1])
        if child.type == "2":  # a symlink: written as it is, then what it points to
            _write(fs, path, child, dest, done)
            target = child.linkname
            base = [] if target.startswith("/") else comps[:i]
            _extract(fs, base + [p for p in target.split("/") if p not in ("", ".")] + comps[i + 1:], dest, done,
                     hops + 1)
            return
        if child.type != "5" and i < len(comps) - 1:
            return
        node = child
    top = "/".join(comps)
    if node is not fs.tree.root:
        _write(fs, top, node, dest, done)
    # below a directory, symlinks are copied as they are (not followed): their own entries do
    entries = list(fs.tree.walk(node, "/" + top if top else "")) if node.type == "5" else []
    _write_all(fs, [(p[1:], n) for p, n in entries], dest, done)


def _write_all(fs: ImageFS, entries: list, dest: str, done: dict) -> None:
    files = []
    for path, node in entries:
        if node.inode.type == "0":
            files.append((path, node))
        else:
            _write(fs, path, node, dest, done)
    names = {id(n): p for p, n in files}
    for node, stream in fs.contents([n for _, n in files if names[id(n)] not in done]):
        _write(fs, names[id(node)], node, dest, done, stream)


def _write(fs: ImageFS, path: str, node, dest: str, done: dict, stream=None) -> None:
    if path in done:
        return
    done[path] = node
    inode = node.inode
    host = os.path.join(dest, path)
    parent = os.path.dirname(host)
    if not os.path.isdir(parent):
        _parents(fs, os.path.dirname(path), dest, done)
    kind = inode.type
    if kind == "5":
        os.makedirs(host, exist_ok=True)
    elif kind == "2":
        os.symlink(inode.linkname, host)
    elif kind == "0":
        with open(host, "wb") as f:
            if stream is None:
                stream = fs.open_file(inode)
            with stream:
                while chunk := stream.read(1 << 20):
                    f.write(chunk)
    else:
        return  # devices and fifos: a COPY of them is rare, and a mount would be no safer
    os.chown(host, inode.uid, inode.gid, follow_symlinks=False)
    if kind != "2":
        os.chmod(host, inode.mode)
    os.utime(host, (inode.mtime, inode.mtime), follow_symlinks=False)


def _parents(fs: ImageFS, path: str, dest: str, done: dict) -> None:
    """The directories above an extracted path, with the image's metadata."""
    comps = [p for p in path.split("/") if p]
    node = fs.tree.root
    for i, part in enumerate(comps):
        node = (node.children or {}).get(part) if node is not None else None
        sub = "/".join(comps[:i + 1])
        if node is not None and node.type == "5":
            _write(fs, sub, node, dest, done)
        else:
            os.makedirs(os.path.join(dest, sub), exist_ok=True)
