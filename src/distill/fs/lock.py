"""Inter-process locks on files, so several distill processes can share one store."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager


@contextmanager
def locked(path: str, shared: bool = False, wait: bool = True):
    """Hold an flock on `path` for the duration of the block (created if missing).
    Without `wait`, BlockingIOError when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        yield
    finally:
        os.close(fd)  # closing releases the lock
