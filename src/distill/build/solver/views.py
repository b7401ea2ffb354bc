"""What a COPY or WORKDIR sees of the image it lands on, without a mount: whether a path
exists and as what, a directory's metadata (what overlayfs would copy up), and small text
files (/etc/passwd for --chown). Two views answer alike: UnionView reads the unpacked
layers (cheap once they are unpacked), ImageView reads the layers' tables of contents
(imagefs), so a stage that runs nothing never unpacks its base. Paths through a symlink
are not followed (Unsuitable): the overlay path resolves those."""

from __future__ import annotations

import os
import stat

from distill.image.layers.create import xattrs_of
from distill.image.layers import opaque_xattr

_TEXT_MAX = 4 << 20


class Unsuitable(Exception):
    """The copy meets a symlink or replaces something: it goes through the overlay."""


class Found:
    """What is at a path: kind (dir, symlink, file or other), mode bits, owner, mtime."""

    __slots__ = ("kind", "mode", "uid", "gid", "mtime", "_xattrs")

    def __init__(self, kind: str, mode: int, uid: int, gid: int, mtime: int, xattrs):
        self.kind, self.mode, self.uid, self.gid, self.mtime, self._xattrs = kind, mode, uid, gid, mtime, xattrs

    def xattrs(self) -> dict[str, bytes]:
        x = self._xattrs
        return x() if callable(x) else dict(x or {})


class View:
    def lookup(self, path: str) -> Found | None:
        raise NotImplementedError

    def text(self, path: str) -> str | None:
        raise NotImplementedError

    def is_dir(self, path: str) -> bool:
        if not path.strip("/."):
            return True  # the root, even of scratch
        found = self.lookup(path)
        if found and found.kind == "symlink":
            raise Unsuitable(path)
        return found is not None and found.kind == "dir"

    def is_link(self, path: str) -> bool:
        found = self.lookup(path)
        if found and found.kind == "symlink":
            raise Unsuitable(path)
        return False

    def read_text(self, path: str) -> str | None:
        found = self.lookup(path)
        if found is None:
            return None
        if found.kind == "symlink":
            raise Unsuitable(path)
        return self.text(path) if found.kind == "file" else None


_KINDS = {stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFREG: "file"}


class UnionView(View):
    """The image's tree as its unpacked layers show it."""

    def __init__(self, lowers: list[str]):
        self.top_first = lowers[::-1]

    def _host(self, path: str) -> tuple[str, os.stat_result] | None:
        comps = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in comps:
            raise Unsuitable(path)
        layers = self.top_first
        found = None
        for i in range(len(comps)):
            rel = "/".join(comps[:i + 1])
            found, top, below = None, "", []
            for j, layer in enumerate(layers):
                host = os.path.join(layer, rel)
                try:
                    st = os.lstat(host)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    break  # a whiteout: gone from here down
                found, top, below = (host, st), layer, layers[j + 1:]
                break
            if found is None:
                return None
            host, st = found
            if i < len(comps) - 1:
                if not stat.S_ISDIR(st.st_mode):  # a symlink or a file on the way
                    raise Unsuitable(path)
                layers = [top] + _merged_below(below, rel, host)
        return found

    def lookup(self, path: str) -> Found | None:
        found = self._host(path)
        if found is None:
            return None
        host, st = found
        return Found(_KINDS.get(stat.S_IFMT(st.st_mode), "other"), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                     int(st.st_mtime), lambda: xattrs_of(host))

    def text(self, path: str) -> str | None:
        host, st = self._host(path)
        if st.st_size > _TEXT_MAX:
            return None
        with open(host, encoding="utf-8", errors="replace") as f:
            return f.read()


def _merged_below(below: list[str], rel: str, host: str) -> list[str]:
    """The layers under the top one whose copies of directory `rel` merge with it: down to
    an opaque one, stopping where a layer has something else there."""
    if _opaque(host):
        return []
    out = []
    for layer in below:
        try:
            st = os.lstat(os.path.join(layer, rel))
        except (FileNotFoundError, NotADirectoryError):
            out.append(layer)  # nothing there: harmless to keep looking below
            continue
        if not stat.S_ISDIR(st.st_mode):
            break
        out.append(layer)
        if _opaque(os.path.join(layer, rel)):
            break
    return out


def _opaque(host: str) -> bool:
    try:
        return os.getxattr(host, opaque_xattr(), follow_symlinks=False) == b"y"
    except OSError:
        return False


class ImageView(View):
    """The image's tree as its layers' tables of contents show it (imagefs)."""

    def __init__(self, fs):
        self.fs = fs

    def lookup(self, path: str) -> Found | None:
        node = self.fs.tree.root
        comps = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in comps:
            raise Unsuitable(path)
        for i, part in enumerate(comps):
            if node.children is None:
                raise Unsuitable(path)  # a symlink or a file on the way
            node = node.children.get(part)
            if node is None:
                return None
        inode = node.inode
        kind = {"5": "dir", "2": "symlink", "0": "file"}.get(inode.type, "other")
        xattrs = {k: bytes.fromhex(v) for k, v in (inode.xattrs or {}).items()}
        return Found(kind, inode.mode, inode.uid, inode.gid, inode.mtime, xattrs)

    def text(self, path: str) -> str | None:
        return self.fs.read_text(path, _TEXT_MAX)


def view_of(store, layers: list[dict], diff_ids: list[str], unpack: bool) -> View:
    """A view of these layers: the unpacked ones when they all are, or when `unpack` asks
    for them (a later step will mount them anyway, or the step is being rebuilt, where a
    few lstat calls beat reading the tables again at every edit); else their tables of
    contents (no unpack: what a first build of a stage that runs nothing wants)."""
    from distill.image.layers.unpack import is_unpacked, unpacked

    if unpack or all(is_unpacked(store, d) for d in diff_ids):
        return UnionView([unpacked(store, d, i) for d, i in zip(layers, diff_ids)])
    from distill.image.imagefs import ImageFS

    return ImageView(ImageFS(store, layers, diff_ids))
