"""What builds and runs killed with SIGKILL leave, collected by the next build, run or
prune: their mounts and processes die with them (each lives in mount and PID namespaces
of its own: runtime/isolation.py), but not their temporary directories nor runc's
records of the containers they had started. An entry belongs to a process that is gone
when its maker (fs/owner.py) no longer runs. What still runs there (a store used by a
version without the namespaces, or where they could not be made: port proxies, containers) is
stopped first, and only when it points into such an entry. Snapshots made without a sync
are synced here too, off the build's path, once the kernel has written them back."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from distill.fs.files import list_dir, read_bytes
from distill.fs.atomic import remove_tree
from distill.fs.owner import alive, maker, sweep
from distill.build.runtime import CONTAINER_PREFIX, runc_argv, runc_root  # not runc.py: a no-op build never loads it

MAX_WALK = 10_000  # entries looked at for port proxies' pid files in one dead directory
PROXY = b"distill.build.runtime.proxy"


def collect_stale(store) -> int:
    """Stops and removes what processes that are gone left in the store's tmp/ and
    containers/; returns how many entries went."""
    dead = [p for p in list_dir(store.tmp_dir) if _gone(maker(os.path.basename(p)))]
    dead += [d for d in list_dir(store.path("containers")) if _abandoned(d)]
    _forget_records()
    sweep()
    if not dead:
        return 0
    release(dead)
    for p in dead:
        remove_tree(p)
    return len(dead)


def release(paths: list[str]) -> None:
    """Stops the containers and port proxies that use `paths` and unmounts what is
    mounted under them in this mount namespace, so they can be removed."""
    roots = [os.path.realpath(p) for p in paths]
    _stop_containers(roots)
    for root in roots:
        _stop_proxies(root)
    _unmount_under(roots)


def _gone(token: str | None) -> bool:
    return token is not None and not alive(token)


def _abandoned(container: str) -> bool:
    """A `distill run` container whose process is gone before it was detached (a detached
    one has state.json, and lives until `distill stop`)."""
    if os.path.exists(os.path.join(container, "state.json")):
        return False
    try:
        token = read_bytes(os.path.join(container, "owner")).decode().strip()
    except (OSError, UnicodeDecodeError):
        return False
    return _gone(token)


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def _stop_containers(roots: list[str]) -> None:
    try:
        r = subprocess.run(runc_argv("list", "--format", "json"), capture_output=True, text=True, timeout=30)
        listed = json.loads(r.stdout or "null") or []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return
    for c in listed if isinstance(listed, list) else []:
        if isinstance(c, dict) and isinstance(c.get("bundle"), str) and _inside(c["bundle"], roots):
            subprocess.run(runc_argv("kill", str(c.get("id")), "KILL"), capture_output=True, timeout=30)
            subprocess.run(runc_argv("delete", "--force", str(c.get("id"))), capture_output=True, timeout=30)


def _forget_records() -> None:
    """runc's records of build containers whose maker is gone (runtime/runc.py names them);
    one runc was killed creating has no state runc can load, only its directory."""
    try:
        records = list_dir(runc_root())
    except OSError:
        return
    for record in records:
        cid = os.path.basename(record)
        if not _gone(maker(cid, CONTAINER_PREFIX)):
            continue
        try:
            subprocess.run(runc_argv("kill", cid, "KILL"), capture_output=True, timeout=30)
            subprocess.run(runc_argv("delete", "--force", cid), capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return
        if os.path.isdir(record) and not os.path.exists(os.path.join(record, "state.json")):
            remove_tree(record)


def _stop_proxies(root: str) -> None:
    """A port proxy (runtime/proxy.py) keeps its PID in the proxy.pid it was told of; it
    is stopped only when that process is such a proxy and its PID file is under `root`."""
    seen = 0
    for top, dirs, files in os.walk(root):
        seen += len(dirs) + len(files)
        if seen > MAX_WALK:
            return
        if "proxy.pid" not in files:
            continue
        try:
            pid = int(read_bytes(os.path.join(top, "proxy.pid")).split()[0])
            argv = read_bytes(f"/proc/{pid}/cmdline").split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if PROXY in argv and any(a.startswith(os.fsencode(root) + b"/") for a in argv):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _unmount_under(roots: list[str]) -> None:
    """Mounts under `roots` seen from here (a store a version without private mount
    namespaces left, or a foreground run's), deepest first, detached."""
    try:
        rows = read_bytes("/proc/self/mountinfo").decode(errors="replace").splitlines()
    except OSError:
        return
    points = []
    for row in rows:
        fields = row.split()
        if len(fields) > 4:
            point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
                .replace("\\134", "\\")
            if _inside(point, roots):
                points.append(point)
    from distill.build.runtime.isolation import detach

    for point in sorted(points, key=len, reverse=True):
        detach(point)


def confirm_in_background(store) -> None:
    """Snapshots earlier builds of this boot made and never synced are synced and marked
    so (unpack.confirm_snapshots) beside the build, which never waits for it. The thread
    starts with every signal blocked: a signal must reach the build's own thread, whose
    system call it interrupts (one taken by this thread would wait for that call to end)."""
    from distill.image.layers.unpack import confirm_snapshots
    from distill.threads import Worker

    def confirm():
        try:
            confirm_snapshots(store)
        except OSError:
            pass  # the next build tries again

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        Worker(confirm).start()  # a new thread takes its maker's mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
