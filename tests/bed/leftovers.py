"""What a build or run leaves behind that points into a store: mounts, runc containers
and processes. The checks of bench/soak.py and of the kill tests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


def leftovers(roots: list[Path]) -> dict:
    """Mounts seen from here, runc containers and processes that point into the stores."""
    names = [os.path.realpath(r) + "/" for r in roots]
    with open("/proc/self/mountinfo") as f:
        mounts = [row.split()[4] for row in f if any(row.split()[4].startswith(n) for n in names)]
    listed = subprocess.run(["runc", "list", "--format", "json"], capture_output=True, text=True).stdout
    containers = [c["id"] for c in json.loads(listed or "null") or []
                  if any(c.get("bundle", "").startswith(n) for n in names)]
    containers += unloadable_records()
    processes = [b" ".join(argv).decode(errors="replace")[:160] for _, argv in command_lines()
                 if any(n.encode() in a for n in names for a in argv)]
    return {"mounts": mounts, "containers": containers, "processes": processes}


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
