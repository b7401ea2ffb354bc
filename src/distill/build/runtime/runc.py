"""Start a process with runc from a generated bundle; stream its output; clean up always."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable

from distill.errors import DistillError
from distill.fs.files import write_text
from distill.fs.atomic import remove_tree, temp_dir
from distill.build.runtime import CONTAINER_PREFIX, runc_argv
from distill.build.runtime.relay import relay
from distill.build.runtime.spec import ProcessSpec, runtime_spec

RUNC = "runc"


def _runc(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(runc_argv(*args), capture_output=True, text=True, **kw)


def container_name() -> str:
    """distill-MAKER-RANDOM: the next command removes runc's record of a container whose
    maker was killed (upkeep/stale.py), even one runc was killed creating."""
    from distill.fs.owner import named

    return named(CONTAINER_PREFIX)


SKIPPED_DEV = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", "console"}


def host_devices(root: str = "/dev") -> list[dict]:
    """The machine's device nodes as spec entries (a privileged container gets them all,
    as docker's --privileged does), less the ones runc makes itself per container."""
    import stat

    out = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DEV)
        for name in sorted(files):
            path = os.path.join(top, name)
            if name in SKIPPED_DEV or top == root and name == "ptmx":
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append({"path": path, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                            "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return out


def bounding_set() -> int:
    """This process's bounding set: what a privileged container can be given (a machine
    may hold some back, and runc fails on a capability it cannot grant)."""
    from distill.fs import capability_mask

    return capability_mask("CapBnd") or 0


def bundle_spec(rootfs: str, process: ProcessSpec) -> dict:
    """runtime_spec with what it needs from the machine (a privileged container's devices
    and capabilities; whether runc runs in a user namespace)."""
    from distill.build.runtime.isolation import PROC_ENV
    from distill.fs import user_namespace_ids

    proc_bind = os.environ.get(PROC_ENV) == "bind"
    if process.insecure:
        return runtime_spec(rootfs, process, host_devices(), bounding_set(), user_namespace_ids(), proc_bind)
    return runtime_spec(rootfs, process, userns=user_namespace_ids(), proc_bind=proc_bind)


def cleanup(container_id: str) -> None:
    _runc("kill", container_id, "KILL")
    _runc("delete", "--force", container_id)


def run(rootfs: str, process: ProcessSpec, work_dir: str, on_output: Callable[[bytes], None] | None = None,
        container_id: str | None = None, cancel: threading.Event | None = None) -> int:
    """Run to completion; returns the exit code. Output goes to `on_output` chunk by chunk.
    Setting `cancel` kills the container (even one runc is still creating)."""
    cancel = cancel or threading.Event()
    if not shutil.which(RUNC):
        raise DistillError("runc is not installed (apt-get install runc)")
    cid = container_id or container_name()
    bundle = temp_dir(work_dir, "bundle-")
    try:
        write_text(os.path.join(bundle, "config.json"), json.dumps(bundle_spec(rootfs, process)))
        if cancel.is_set():
            raise DistillError("interrupted")
        # runc's warnings (a cgroup it cannot read in a user namespace) apart from the step's
        # output; its error, if it fails, still comes on its standard error
        log = os.path.join(bundle, "runc.log")
        proc = subprocess.Popen(runc_argv("--log", log, "run", "--bundle", bundle, cid), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return relay(proc, on_output, cancel, lambda: cleanup(cid))
        except BaseException:
            cleanup(cid)
            proc.kill()
            proc.wait()
            raise
    finally:
        _runc("delete", "--force", cid)
        remove_tree(bundle)
