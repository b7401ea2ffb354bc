"""Writes that never leave a half-written file under its final name."""

from __future__ import annotations

import os

from distill.fs.files import unlink


def fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# tempfile.mkstemp/mkdtemp and shutil.rmtree's contracts, without importing them: tempfile
# (with random and shutil behind it) and shutil (with bz2 and lzma) cost ~4 ms of a rebuild.

def temp_file(directory, prefix: str) -> tuple[int, str]:
    """A new file (mode 0600, made with O_EXCL) in `directory`: its open fd and path. Its
    name says which process made it (fs/owner.py: the next build collects what a
    killed one left); so does temp_dir's."""
    from distill.fs.owner import named

    while True:
        path = os.path.join(directory, named(prefix))
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue


def temp_dir(directory, prefix: str) -> str:
    """A new directory (mode 0700) in `directory`."""
    from distill.fs.owner import named

    while True:
        path = os.path.join(directory, named(prefix))
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def remove_tree(path) -> None:
    """Remove a directory and what it holds, ignoring errors; an empty one (the usual case,
    its contents renamed into place) without importing shutil."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def write_file(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """temp file + fsync + rename + fsync of the directory. Not `durable`: no fsyncs, for
    caches whose loss in a crash costs only recomputing them (a reader must accept junk)."""
    parent, name = os.path.split(os.fspath(path))
    parent = parent or "."
    fd, tmp = temp_file(parent, f".{name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        unlink(tmp)
        raise
    if durable:
        fsync_dir(parent)
