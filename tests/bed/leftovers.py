"""What a build or run leaves behind that points into a store: mounts, runc containers
and processes. The checks of bench/soak.py and of the kill tests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


def leftovers(roots: list[Path], user=None) -> dict:
    """Mounts seen from here, runc containers and processes that point into the stores;
    for stores of `user` (a pwd entry), runc's records in each store and every process
    the user runs (its mounts are in namespaces of its own, gone with them)."""
    names = [os.path.realpath(r) + "/" for r in roots]
    with open("/proc/self/mountinfo") as f:
        mounts = [row.split()[4] for row in f if any(row.split()[4].startswith(n) for n in names)]
    runc_roots = [os.path.join(r, "runc") for r in roots] if user is not None else ["/run/runc"]
    containers = []
    for runc_root in filter(os.path.isdir, runc_roots):  # (runc list would make it, as root)
        listed = subprocess.run(["runc", "--root", runc_root, "list", "--format", "json"], capture_output=True,
                                text=True).stdout
        containers += [c["id"] for c in json.loads(listed or "null") or []
                       if any(c.get("bundle", "").startswith(n) for n in names)]
        containers += unloadable_records(runc_root)
    processes = [b" ".join(argv).decode(errors="replace")[:160] for pid, argv in command_lines()
                 if any(n.encode() in a for n in names for a in argv) or (user is not None and _uid(pid) == user.pw_uid)]
    return {"mounts": mounts, "containers": containers, "processes": processes}


def _uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
    except (OSError, StopIteration, ValueError):
        return None


def unloadable_records(runc_root: str = "/run/runc") -> list[str]:
    """runc's records of build containers it was killed creating (no state.json: no
    bundle to say which store) whose maker is gone."""
    from distill.fs.owner import alive, maker
    from distill.build.runtime import CONTAINER_PREFIX

    found = []
    for name in sorted(os.listdir(runc_root)) if os.path.isdir(runc_root) else []:
        token = maker(name, CONTAINER_PREFIX)
        if token and not os.path.exists(os.path.join(runc_root, name, "state.json")) and not alive(token):
            found.append(name)
    return found


def bridge_veths() -> set[str]:
    """The machine-side ends of containers' veths on distill's bridge (each goes with its
    container's network namespace)."""
    from distill.build.runtime.bridge import BRIDGE

    r = subprocess.run(["ip", "-j", "link", "show", "master", BRIDGE], capture_output=True, text=True)
    return {link["ifname"] for link in json.loads(r.stdout or "[]")} if r.returncode == 0 else set()


def command_lines() -> list[tuple[int, list[bytes]]]:
    """(pid, argv) of every process but this one."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(pid) != os.getpid():
            found.append((int(pid), argv))
    return found
