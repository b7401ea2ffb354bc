"""The C library's calls Python's os module lacks (mount, umount2, unshare, prctl), through
ctypes, loaded on first use (~3 ms)."""

from __future__ import annotations

import os

MNT_DETACH = 2
_MOUNT_DATA_MAX = 4095  # the kernel copies one page of options

_libc = None


def c_library():
    """The C library, with errno kept."""
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def mount(source: str, target: str, fstype: str, options: str) -> int:
    """mount(2) without flags: 0, or the errno (E2BIG for options past a page)."""
    import ctypes

    data = options.encode()
    if len(data) > _MOUNT_DATA_MAX:
        return 7  # E2BIG
    if c_library().mount(source.encode(), os.fsencode(target), fstype.encode(), 0, data) == 0:
        return 0
    return ctypes.get_errno()


def umount(path: str, flags: int = 0) -> int:
    """umount2(2): 0, or the errno."""
    import ctypes

    return 0 if c_library().umount2(os.fsencode(path), flags) == 0 else ctypes.get_errno()


def syncfs(path: str) -> int:
    """syncfs(2) of the filesystem holding `path`: 0, or the errno."""
    import ctypes

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return 0 if c_library().syncfs(fd) == 0 else ctypes.get_errno()
    finally:
        os.close(fd)
