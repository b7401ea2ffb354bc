"""Which process made a temporary entry, and whether it still runs: a build killed with
SIGKILL cannot clean up after itself, so the next one (or prune) does, for the entries
whose maker is gone. A maker is a random token whose lock file (under /run/distill/owners)
the process holds locked while it runs; the kernel releases the lock when the process
dies, however it dies, and in whatever PID namespace (a build runs in one of its own,
where process IDs mean nothing to another build)."""

from __future__ import annotations

import os
import re

_TOKEN = re.compile(r"([0-9a-f]{12})-[0-9a-f]{12}$")
NAMED_PARTS = 25  # what named() adds to its prefix: token, dash, random part
OWNERS = ("/run/distill/owners", "/tmp/distill-owners")
OWNERS_ENV = "DISTILL_OWNERS"  # a user other than root keeps its own (build/runtime/userns.py)
SWEEP = 200  # lock files of dead makers removed at most per sweep

_mine: tuple[int, str, int] | None = None  # (pid, token, locked fd)


def _owners() -> tuple[str, ...]:
    own = os.environ.get(OWNERS_ENV)
    return (own,) if own else OWNERS


def _directory() -> str:
    for d in _owners():
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            return d
        except OSError:
            continue
    raise OSError("no directory for distill's owner locks")


def token() -> str:
    """This process as a maker (a new one after a fork)."""
    global _mine
    if _mine is None or _mine[0] != os.getpid():
        import fcntl

        name = os.urandom(6).hex()
        fd = os.open(os.path.join(_directory(), f"{name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _mine = (os.getpid(), name, fd)
    return _mine[1]


def named(prefix: str) -> str:
    """prefix, this process as a maker, a random part: a name whose maker() is this one."""
    return f"{prefix}{token()}-{os.urandom(6).hex()}"


def maker(name: str, prefix: str | None = None) -> str | None:
    """The maker of a name named() made, None for another name; with `prefix`, only when
    the name is that prefix and named()'s parts, nothing else."""
    if prefix is not None and not (name.startswith(prefix) and len(name) == len(prefix) + NAMED_PARTS):
        return None
    m = _TOKEN.search(name)
    return m[1] if m else None


def alive(maker_token: str) -> bool:
    """Whether the maker still runs; a dead one's lock file is removed."""
    import fcntl

    if _mine is not None and _mine[1] == maker_token and _mine[0] == os.getpid():
        return True
    for d in _owners():
        path = os.path.join(d, f"{maker_token}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        _remove(path)
        return False
    return False


def sweep() -> None:
    """Removes the lock files of makers that are gone (each process leaves one)."""
    for d in _owners():
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names[:SWEEP]:
            if name.endswith(".lock"):
                alive(name[:-5])


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
