"""What a step changed in a plain tree, without a copy of the tree from before it: a
survey (each entry's mode, owner, size, mtime, device, inode and link target) is taken
before the step, and after it one walk writes every entry whose facts differ into an
upper dir in overlay form (0/0 character devices for deletions, the opaque xattr for a
directory that replaced something else), as overlayfs would have made it. A rewrite in
place that keeps size, mtime, mode, owner and inode goes unseen (Kaniko's `redo` mode
has the same limit); the inode catches a file replaced by a rename."""

from __future__ import annotations

import os
import stat

from distill.build.snapshot.copier import Copier, is_whiteout
from distill.image.layers import opaque_xattr

# (mode, uid, gid, size, mtime_ns, rdev, inode, link target); a directory's size and inode
# are left out (they change with its entries, which the walk compares one by one)
Facts = tuple
Survey = dict  # relative path ("usr/bin/env") -> Facts


def _facts(st: os.stat_result, path: str) -> Facts:
    if stat.S_ISDIR(st.st_mode):
        return st.st_mode, st.st_uid, st.st_gid, 0, st.st_mtime_ns, 0, 0, None
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
    return st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_rdev, st.st_ino, link


def _entries(path: str) -> list[os.DirEntry]:
    with os.scandir(path) as it:
        return list(it)  # in any order: the layer's writer sorts


def survey(root: str) -> Survey:
    """Every entry under `root`. A deletion mark there (a tree copied whole from a layer's
    snapshot keeps them) is removed: nothing lies below it to hide."""
    out: Survey = {}
    stack = [("", root)]
    while stack:
        rel_dir, path = stack.pop()
        for e in _entries(path):
            st = e.stat(follow_symlinks=False)
            if is_whiteout(st):
                os.unlink(e.path)
                continue
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            out[rel] = _facts(st, e.path)
            if stat.S_ISDIR(st.st_mode):
                stack.append((rel, e.path))
    return out


class _Upper:
    """Entries of the tree written into the upper dir, their parents copied up first."""

    def __init__(self, root: str, upper: str):
        self.root, self.upper = root, upper
        self.copier = Copier()

    def parents(self, rel: str) -> None:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if not os.path.lexists(os.path.join(self.upper, sub)):
                self.directory(sub)

    def directory(self, rel: str, opaque: bool = False) -> None:
        self.parents(rel)
        src, dst = os.path.join(self.root, rel), os.path.join(self.upper, rel)
        self.copier.directory(src, dst, os.lstat(src))
        if opaque:  # a directory where the layers below had something else: hide what was there
            os.setxattr(dst, opaque_xattr(), b"y")

    def entry(self, rel: str, st: os.stat_result) -> None:
        self.parents(rel)
        self.copier.entry(os.path.join(self.root, rel), os.path.join(self.upper, rel), st)

    def whiteout(self, rel: str) -> None:
        self.parents(rel)
        os.mknod(os.path.join(self.upper, rel), stat.S_IFCHR | 0o000, os.makedev(0, 0))


def diff(root: str, before: Survey, upper: str) -> Survey:
    """Writes what changed in `root` since `before` into `upper`; returns the new survey."""
    after: Survey = {}
    out = _Upper(root, upper)
    stack = [("", root)]
    while stack:
        rel_dir, path = stack.pop()
        for e in _entries(path):
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            st = e.stat(follow_symlinks=False)
            facts = after[rel] = _facts(st, e.path)
            old = before.get(rel)
            if stat.S_ISDIR(st.st_mode):
                if old is None or not stat.S_ISDIR(old[0]):
                    out.directory(rel, opaque=old is not None)
                elif old != facts:
                    out.directory(rel)
                stack.append((rel, e.path))
            elif old != facts:
                out.entry(rel, st)
    for rel, old in before.items():
        if rel in after:
            continue
        parent = rel.rpartition("/")[0]
        # a deleted directory's whiteout hides its entries; one replaced hides them anyway
        if not parent or (parent in after and stat.S_ISDIR(after[parent][0]) and stat.S_ISDIR(before[parent][0])):
            out.whiteout(rel)
    out.copier.finish()
    return after
