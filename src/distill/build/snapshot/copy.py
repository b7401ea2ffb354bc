"""A snapshotter for machines without overlayfs: the layers are applied into a plain tree,
the step works on a copy of it, and the difference is written back in overlay form
(0/0 character devices for deletions, the opaque xattr for replaced directories) so the
rest of the builder cannot tell. Slower, and it spots a changed file by its size, mtime,
mode and owner (a rewrite keeping all four goes unseen)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from contextlib import contextmanager

from distill.image.layers.blob import apply_layer
from distill.fs.atomic import remove_tree, temp_dir
from distill.build.snapshot.overlay import Mounted
from distill.image.layers import opaque_xattr


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (stat.S_IFMT(a.st_mode) == stat.S_IFMT(b.st_mode) and a.st_mode == b.st_mode and a.st_uid == b.st_uid
            and a.st_gid == b.st_gid and a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns
            and a.st_rdev == b.st_rdev)


def _copy_entry(src: str, dst: str) -> None:
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(dst)
        shutil.copystat(src, dst, follow_symlinks=False)
    else:
        subprocess.run(["cp", "-a", "--reflink=auto", src, dst], check=True)
        return
    os.lchown(dst, st.st_uid, st.st_gid)


def _copy_tree(src: str, dst: str) -> None:
    subprocess.run(["cp", "-a", "--reflink=auto", src, dst], check=True)


def _ensure_parents(merged: str, upper: str, rel: str) -> None:
    """Parent directories in the upper dir carry the merged tree's metadata (like copy-up)."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        target = os.path.join(upper, sub)
        if not os.path.lexists(target):
            _copy_entry(os.path.join(merged, sub), target)


def diff_into(base: str, merged: str, upper: str) -> None:
    """Write what changed from `base` to `merged` into `upper`, in overlay form."""

    def walk(rel: str) -> None:
        bdir, mdir = os.path.join(base, rel), os.path.join(merged, rel)
        mnames = set(os.listdir(mdir))
        bnames = set(os.listdir(bdir)) if os.path.isdir(bdir) and not os.path.islink(bdir) else set()
        for name in sorted(bnames - mnames):
            sub = f"{rel}/{name}" if rel else name
            _ensure_parents(merged, upper, sub)
            os.mknod(os.path.join(upper, sub), stat.S_IFCHR | 0o000, os.makedev(0, 0))
        for name in sorted(mnames):
            sub = f"{rel}/{name}" if rel else name
            m = os.lstat(os.path.join(mdir, name))
            try:
                b = os.lstat(os.path.join(bdir, name))
            except FileNotFoundError:
                b = None
            if b is not None and stat.S_ISDIR(m.st_mode) and stat.S_ISDIR(b.st_mode):
                if not _same(m, b) or m.st_mtime_ns != b.st_mtime_ns:
                    _ensure_parents(merged, upper, sub)
                    if not os.path.lexists(os.path.join(upper, sub)):
                        _copy_entry(os.path.join(mdir, name), os.path.join(upper, sub))
                walk(sub)
                continue
            if b is not None and _same(m, b) and (not stat.S_ISLNK(m.st_mode) or
                                                  os.readlink(os.path.join(mdir, name)) == os.readlink(os.path.join(bdir, name))):
                continue
            _ensure_parents(merged, upper, sub)
            target = os.path.join(upper, sub)
            if os.path.lexists(target) and os.path.isdir(target):
                shutil.rmtree(target)
            if stat.S_ISDIR(m.st_mode):
                _copy_tree(os.path.join(mdir, name), target)
                if b is not None:  # a directory replaced something: hide what was below
                    os.setxattr(target, opaque_xattr(), b"y")
            else:
                _copy_entry(os.path.join(mdir, name), target)

    walk("")


class CopyMounted(Mounted):
    def __init__(self, merged: str, base: str, upper: str):
        super().__init__(merged, upper, upper)
        self.base = base
        self._diffed = False

    def changes(self) -> str:
        if not self._diffed:
            diff_into(self.base, self.merged, self.upper)
            self._diffed = True
        return self.upper


class CopySnapshotter:
    name = "copy"

    def __init__(self, store):
        self.store = store

    @contextmanager
    def mount(self, layers: list[tuple[dict, str]]):
        tmp = temp_dir(self.store.tmp_dir, "copy-")
        base, merged, upper = (os.path.join(tmp, d) for d in ("base", "merged", "upper"))
        try:
            os.mkdir(base)
            os.mkdir(upper)
            for descriptor, _ in layers:
                apply_layer(self.store, descriptor, base, whiteouts="delete")
            _copy_tree(base, merged)
            yield CopyMounted(merged, base, upper)
        finally:
            remove_tree(tmp)
