"""Copies one entry of a tree (file, link, device, directory) with its metadata into
another: owner first (a chown clears set-id bits and capabilities), then xattrs but the
overlay's own marks, then mode; a directory's times once nothing more is made in it;
hard links among the copied entries kept as links."""

from __future__ import annotations

import os
import shutil
import stat


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs's mark of a deletion: a 0/0 character device."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """Whether a directory hides what the layers below hold there (trusted.* for root,
    user.* in a user namespace)."""
    try:
        return any(n.endswith("overlay.opaque") and os.getxattr(path, n, follow_symlinks=False) == b"y"
                   for n in os.listxattr(path, follow_symlinks=False))
    except OSError:
        return False


def remove(path: str) -> None:
    """Whatever is at `path`, a directory with its contents."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


class Copier:
    def __init__(self):
        self.linked: dict[tuple[int, int], str] = {}
        self.dir_times: list[tuple[str, int, int]] = []

    def metadata(self, src: str, dst: str, st: os.stat_result) -> None:
        os.lchown(dst, st.st_uid, st.st_gid)
        for name in os.listxattr(src, follow_symlinks=False):
            if name.split(".")[1:2] != ["overlay"]:
                os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(dst, stat.S_IMODE(st.st_mode))
        if stat.S_ISDIR(st.st_mode):
            self.dir_times.append((dst, st.st_atime_ns, st.st_mtime_ns))
        else:
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def directory(self, src: str, dst: str, st: os.stat_result) -> None:
        """A directory at `dst` (made when missing) with the metadata of `src`."""
        if not os.path.isdir(dst) or os.path.islink(dst):
            os.mkdir(dst, 0o700)
        self.metadata(src, dst, st)

    def entry(self, src: str, dst: str, st: os.stat_result) -> None:
        """A non-directory copied to `dst`, where nothing is."""
        if st.st_nlink > 1:
            first = self.linked.get((st.st_dev, st.st_ino))
            if first is not None:
                os.link(first, dst)
                return
            self.linked[(st.st_dev, st.st_ino)] = dst
        if stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, dst, follow_symlinks=False)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            os.mknod(dst, st.st_mode, st.st_rdev)
        else:
            return  # a socket: no layer can hold one
        self.metadata(src, dst, st)

    def finish(self) -> None:
        """Directories' times, once nothing more is made in them (one replaced since by
        something else is left)."""
        for dst, atime, mtime in self.dir_times:
            try:
                if stat.S_ISDIR(os.lstat(dst).st_mode):
                    os.utime(dst, ns=(atime, mtime), follow_symlinks=False)
            except FileNotFoundError:
                pass
        self.dir_times.clear()
