"""RUN without namespaces or mounts, where a container's confinement allows neither
(docker's default seccomp profile refuses user namespaces, and there is no
CAP_SYS_ADMIN): the step's process runs chrooted into the step's tree (the copy
snapshotter's) with this container's capabilities, network and processes, as Kaniko's
and Buildah's chroot isolation do. What runc would mount is placed in the tree for the
step and taken out after, the directories around it keeping their times: the device
nodes a program expects, each bind's source (a directory moved in and back when on the
same filesystem, else copied; a file copied), an empty directory for a tmpfs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable

from distill.errors import DistillError
from distill.fs.confined import resolve
from distill.build.runtime.relay import relay
from distill.build.runtime.spec import ProcessSpec

DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


class _Placed:
    """What was put into the tree, undone in reverse order; the parents' times restored."""

    def __init__(self, root: str):
        self.root = root
        self.undo: list[Callable[[], None]] = []
        self.times: dict[str, tuple[int, int]] = {}

    def host(self, path: str) -> str:
        host, _ = resolve(self.root, path, follow_final=False)
        parent = os.path.dirname(host)
        if parent not in self.times and os.path.isdir(parent):
            st = os.stat(parent)
            self.times[parent] = (st.st_atime_ns, st.st_mtime_ns)
        return host

    def aside(self, host: str) -> None:
        """What the image has at `host` moves aside until the step ends."""
        if os.path.lexists(host):
            kept = f"{host}.distill-aside-{os.urandom(4).hex()}"
            os.rename(host, kept)
            self.undo.append(lambda: os.rename(kept, host))

    def close(self) -> None:
        for step in reversed(self.undo):
            step()
        for parent, (atime, mtime) in sorted(self.times.items(), key=lambda kv: -len(kv[0])):
            if os.path.isdir(parent):
                os.utime(parent, ns=(atime, mtime))


def _devices(placed: _Placed) -> None:
    dev = placed.host("/dev")
    if not os.path.isdir(dev):
        os.makedirs(dev, 0o755)
        placed.undo.append(lambda: os.rmdir(dev))
    for name, (major, minor) in DEVICES.items():
        host = placed.host(f"/dev/{name}")
        placed.aside(host)
        os.mknod(host, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(host, 0o666)
        placed.undo.append(lambda h=host: os.unlink(h))


def _bind(placed: _Placed, source: str, destination: str) -> None:
    host = placed.host(destination)
    placed.aside(host)
    os.makedirs(os.path.dirname(host), exist_ok=True)
    if os.path.isdir(source):
        if os.stat(source).st_dev == os.stat(os.path.dirname(host)).st_dev:
            os.rename(source, host)  # a cache directory: moved in, and back with what the step wrote
            placed.undo.append(lambda: os.rename(host, source))
            return
        shutil.copytree(source, host, symlinks=True)
        placed.undo.append(lambda: shutil.rmtree(host))
        return
    shutil.copy2(source, host)
    placed.undo.append(lambda: os.unlink(host))


def run(rootfs: str, process: ProcessSpec, work_dir: str, on_output: Callable[[bytes], None] | None = None,
        container_id: str | None = None, cancel: threading.Event | None = None) -> int:
    """runc.run's contract, chrooted: the exit code; output to `on_output`; `cancel`
    kills the process group."""
    if process.network is not None:
        raise DistillError("a network of its own needs namespaces, which this container refuses")
    if process.insecure:
        raise DistillError("--security=insecure needs namespaces, which this container refuses")
    cancel = cancel or threading.Event()
    placed = _Placed(rootfs)
    try:
        _devices(placed)
        for b in process.binds:
            _bind(placed, b.source, b.destination)
        for t in process.tmpfs:
            host = placed.host(t)
            if not os.path.isdir(host):
                placed.aside(host)
                os.makedirs(host, 0o1777)
                placed.undo.append(lambda h=host: shutil.rmtree(h))
        argv = [sys.executable, "-m", "distill.build.runtime.chroot_exec", rootfs, process.cwd or "/",
                str(process.uid), str(process.gid), ",".join(map(str, process.additional_gids)), "--", *process.args]
        proc = subprocess.Popen(argv, env=dict(e.split("=", 1) for e in process.env if "=" in e),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        def kill() -> None:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass

        try:
            return relay(proc, on_output, cancel, kill)
        except BaseException:
            kill()
            proc.wait()
            raise
    finally:
        placed.close()
