"""Paths inside a root directory (an image rootfs or a build context), resolved as if the
root were `/`: symlinks are followed inside it and never lead out."""

from __future__ import annotations

import os
import stat
from collections import deque

from distill.errors import DistillError

MAX_HOPS = 40


class OutsideRoot(DistillError):
    pass


def resolve(root: str, path: str, follow_final: bool = True, clamp: bool = True) -> tuple[str, str]:
    """(host path, path relative to root). With clamp (an image), `..` stops at the root and
    absolute symlinks mean the root's own `/`; without (a build context), either is refused."""
    todo = deque(p for p in path.split("/") if p not in ("", "."))
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.popleft()
        if part == "..":
            if done:
                done.pop()
            elif not clamp:
                raise OutsideRoot(f"{path}: resolves outside the build context")
            continue
        candidate = os.path.join(root, *done, part)
        if (todo or follow_final) and os.path.islink(candidate):
            hops += 1
            if hops > MAX_HOPS:
                raise DistillError(f"{path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                if not clamp:
                    raise OutsideRoot(f"{path}: symlink to {target} points outside the build context")
                done = []
            todo.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        done.append(part)
    return os.path.join(root, *done), "/".join(done)


def read_text(root: str, path: str, limit: int = 4 << 20) -> str | None:
    """A small file inside an image (e.g. /etc/passwd), or None if it is not there."""
    try:
        host, _ = resolve(root, path)
        st = os.stat(host)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with open(host, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except (OSError, DistillError):
        return None


def is_dir(root: str, path: str) -> bool:
    try:
        return os.path.isdir(resolve(root, path)[0])
    except DistillError:
        return False


def is_link(root: str, path: str) -> bool:
    """Is the last component of `path` (its parents resolved inside root) a symlink?"""
    try:
        return os.path.islink(resolve(root, path, follow_final=False)[0])
    except DistillError:
        return False


class RootView:
    """The questions a COPY asks of the image it writes into, answered from its rootfs."""

    def __init__(self, root: str):
        self.root = root

    def is_dir(self, path: str) -> bool:
        return is_dir(self.root, path)

    def is_link(self, path: str) -> bool:
        return is_link(self.root, path)

    def read_text(self, path: str) -> str | None:
        return read_text(self.root, path)


def make_dirs(root: str, path: str, uid: int, gid: int) -> None:
    """mkdir -p inside the root, symlinks on the way followed inside it; the directories
    it makes are 0755 and owned by uid:gid."""
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        host, _ = resolve(root, "/".join(parts[:i]))
        if not os.path.lexists(host):
            os.mkdir(host, 0o755)
            os.chown(host, uid, gid)
