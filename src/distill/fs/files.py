"""File operations on str paths, the few that os lacks. distill names its files with str and
os.path, not pathlib: pathlib's import (ntpath, urllib.parse and ipaddress behind it) is
~5 ms of every start, a tenth of a small rebuild."""

from __future__ import annotations

import io
import os


def read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_text(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def write_text(path, text: str) -> None:
    """In place, not atomic (an --iidfile, a file in a scratch directory)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def touch(path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def unlink(path) -> None:
    """Remove a file; one already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def which(name: str) -> str | None:
    """shutil.which without importing shutil (bz2 and lzma behind it, ~3 ms of a start)."""
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(d or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def list_dir(path) -> list[str]:
    """The full paths of a directory's entries, sorted; none when it does not exist."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    return [os.path.join(path, n) for n in sorted(names)]


class Prefixed(io.RawIOBase):
    """A stream with bytes already read put back in front (a pipe cannot seek back)."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)
