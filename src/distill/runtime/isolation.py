"""A build or a foreground `distill run` makes its mounts (overlays, network namespace
files) in a mount namespace of its own: when the process dies, however it dies, the
kernel drops them with it, and nothing is left mounted under the store (docker and
BuildKit have a daemon that outlives its builds to clean up; a daemonless builder has
the kernel do it). Mounts made outside still reach in (slave propagation)."""

from __future__ import annotations

import os

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MNT_DETACH = 2

_libc = None


def _c():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def private_mounts() -> bool:
    """Moves this process into a new mount namespace whose mounts stay in it. Must come
    before any thread starts (unshare refuses a process that shares its filesystem
    context). False when it cannot be done (not root): mounts are then as before."""
    libc = _c()
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    if libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None) != 0:
        # the new namespace still propagates back to the machine's: as good as none
        return False
    return True


def detach(path: str) -> None:
    """umount2(path, MNT_DETACH); a path that is no mount is left alone."""
    if _c().umount2(os.fsencode(path), MNT_DETACH) != 0:
        import subprocess

        subprocess.run(["umount", "--lazy", path], capture_output=True)
