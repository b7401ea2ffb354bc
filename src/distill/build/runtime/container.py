"""`distill run`: an image's filesystem (overlay over its unpacked layers, changes thrown
away) started with runc, in the foreground or detached (`distill stop ID` ends it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

from distill.config import DEFAULT_PATH
from distill.errors import DistillError, NotFound
from distill.fs.files import list_dir, read_bytes, write_text
from distill.fs.confined import read_text
from distill.build.snapshot.overlay import lower_stack, mount_overlay, umount
from distill.image.layers.unpack import empty_dir, snapshots_dir, unpacked
from distill.fs.owner import token
from distill.build.runtime import runc, runc_argv
from distill.build.runtime.network import Network, Port
from distill.build.runtime.spec import BindMount, ProcessSpec
from distill.build.runtime.users import resolve as resolve_user


def containers_dir(store) -> str:
    d = store.path("containers")
    os.makedirs(d, exist_ok=True)
    return d


def _container_dir(store, cid: str) -> str:
    """Where container `cid` lives; an ID that is not a plain name is refused (stop
    removes this directory)."""
    if not cid or "/" in cid or "\0" in cid or cid in (".", ".."):
        raise DistillError(f"invalid container ID {cid!r}")
    return os.path.join(containers_dir(store), cid)


def _process(image, root: str, args: list[str], env: list[str], workdir: str | None, user: str | None,
             entrypoint: str | None, network: dict | None, binds: list[BindMount], tty: bool,
             hostname: str) -> ProcessSpec:
    cfg = image.config.get("config") or {}
    ep = [entrypoint] if entrypoint else (cfg.get("Entrypoint") or [])
    if entrypoint == "":
        ep = []
    cmd = args or ([] if entrypoint is not None else (cfg.get("Cmd") or []))
    argv = list(ep) + list(cmd)
    if not argv:
        raise DistillError("no command: the image has neither ENTRYPOINT nor CMD, and none was given")
    merged_env = {"HOSTNAME": hostname}  # as docker sets it; -e and the image's Env come after it
    for item in (cfg.get("Env") or [DEFAULT_PATH]) + env:
        k, _, v = item.partition("=")
        merged_env[k] = v
    ident = resolve_user(user if user is not None else cfg.get("User") or "", read_text(root, "/etc/passwd"),
                         read_text(root, "/etc/group"))
    merged_env.setdefault("HOME", ident.home)
    if tty:
        merged_env.setdefault("TERM", "xterm")  # as docker run -t sets it
    return ProcessSpec(argv, [f"{k}={v}" for k, v in merged_env.items()], workdir or cfg.get("WorkingDir") or "/",
                       ident.uid, ident.gid, ident.run_gids, network, hostname=hostname,
                       binds=binds, terminal=tty)


def _prepare(store, image, cid: str) -> str:
    d = _container_dir(store, cid)
    upper, work, merged = (os.path.join(d, sub) for sub in ("upper", "work", "merged"))
    for sub in (upper, work, merged):
        os.makedirs(sub)
    write_text(os.path.join(d, "layers.json"), json.dumps(image.diff_ids))  # before the mount: prune keeps them
    write_text(os.path.join(d, "owner"), token())  # a run killed before it detached is collected (upkeep/stale.py)
    lowers = [unpacked(store, l, i) for l, i in zip(image.layers, image.diff_ids)]
    stack = lower_stack(lowers, empty_dir(store))
    mount_overlay(stack, upper, work, merged, snapshots_dir(store))
    return d


def _teardown(d: str, net: Network | None = None, keep_record: bool = False) -> None:
    """The container's network and mount gone; with `keep_record`, its log and state stay
    (a stopped container's, until rm), else all of it."""
    if net is None:
        try:
            net = Network.from_state(d, json.loads(read_bytes(os.path.join(d, "network.json"))))
        except (OSError, ValueError):
            net = None
    if net is not None:
        net.stop()
    merged = os.path.join(d, "merged")
    if os.path.exists(merged):
        umount(merged)
    if not keep_record:
        shutil.rmtree(d, ignore_errors=True)
        return
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if name in ("log", "state.json"):
            continue
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            os.unlink(p)


def run(store, image, args: list[str], env: list[str], workdir: str | None = None, user: str | None = None,
        entrypoint: str | None = None, network: str = "private", detach: bool = False, interactive: bool = False,
        name: str | None = None, tty: bool = False, ports: list[Port] = (), memory: int = 0,
        pids_limit: int = 0) -> int | str:
    """Foreground: returns the exit code. Detached: returns the container id. With `tty`
    the process gets a terminal: runc, in the foreground, makes the pty, puts this
    terminal in raw mode and relays it (resizes too). `ports` are published from the
    private network (each with its host port chosen already). `memory` (bytes) and
    `pids_limit` are the container's cgroup limits (0: none), as docker run -m and
    --pids-limit set them."""
    if tty and (detach or not os.isatty(0)):
        raise DistillError("-t needs a terminal: " + ("not with -d" if detach else "the input device is not a TTY"))
    from distill.build.runtime.binfmt import require_for

    require_for(image.config)  # another architecture's image runs under an emulator, or not at all
    cid = name or os.urandom(6).hex()
    if os.path.exists(_container_dir(store, cid)):
        raise DistillError(f"container {cid} already exists")
    d = _prepare(store, image, cid)
    merged, log_path, state_path = (os.path.join(d, n) for n in ("merged", "log", "state.json"))
    net = None
    try:
        hostname = cid[:12]  # docker's: the container's ID, short
        net = Network(network, d, ports, outlives=detach, hostname=hostname)
        files = net.start(as_docker_run=True)
        write_text(os.path.join(d, "network.json"), json.dumps(net.state()))  # stop() and prune find it
        spec = _process(image, merged, args, env, workdir, user, entrypoint, net.namespace(), files, tty, hostname)
        spec.memory, spec.pids_limit = memory, pids_limit
        require_command(merged, spec)
        write_text(os.path.join(d, "config.json"), json.dumps(runc.bundle_spec(merged, spec)))
        rid = f"distill-run-{cid}"
        if detach:
            log = open(log_path, "wb")
            r = subprocess.run(runc_argv("run", "--detach", "--bundle", d, rid), stdin=subprocess.DEVNULL,
                               stdout=log, stderr=log)
            log.close()
            if r.returncode != 0:
                tail = read_bytes(log_path)[-500:].decode(errors="replace")
                raise DistillError(f"runc could not start the container: {tail}")
            write_text(state_path, json.dumps({"id": cid, "runc": rid, "image": image.config_digest,
                                               "name": image.name, "command": spec.args, "started": time.time()}))
            return cid
        proc = subprocess.Popen(runc_argv("run", "--bundle", d, rid),
                                stdin=None if interactive or tty else subprocess.DEVNULL)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            runc.cleanup(rid)
            proc.wait()
            return 130
        finally:
            subprocess.run(runc_argv("delete", "--force", rid), capture_output=True)
    except BaseException:
        if not detach or not os.path.exists(state_path):
            _teardown(d, net)
        raise
    finally:
        if not detach:
            _teardown(d, net)


class CommandError(DistillError):
    """The container's command cannot be run: docker's exit statuses, 127 (not found) and
    126 (not executable)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def require_command(root: str, spec) -> None:
    """The command is found, as runc's exec would look for it (PATH from the process's
    environment, a relative path from its working directory), and is executable."""
    import posixpath
    import stat as st

    from distill.fs.confined import resolve

    if not spec.args:
        raise CommandError("no command: the image has none, and none was given", 127)
    name = spec.args[0]
    env = dict(e.split("=", 1) for e in spec.env if "=" in e)
    if "/" in name:
        candidates = [posixpath.join(spec.cwd or "/", name)]
    else:
        from distill.config import DEFAULT_PATH

        search = env.get("PATH", DEFAULT_PATH.partition("=")[2])
        candidates = [posixpath.join(d or ".", name) for d in search.split(":")]
    for path in candidates:
        host, _ = resolve(root, path if path.startswith("/") else posixpath.join(spec.cwd or "/", path))
        try:
            info = os.stat(host)
        except OSError:
            continue
        if st.S_ISREG(info.st_mode) and info.st_mode & 0o111:
            return
        if "/" in name:
            raise CommandError(f'exec: "{name}": permission denied', 126)
    where = "" if "/" in name else " in $PATH"
    raise CommandError(f'exec: "{name}": executable file not found{where}', 127)


def in_use_diff_ids(store) -> set[str]:
    """The layers under containers that exist (running, or left by a killed run): their
    snapshots are lower dirs of a mount and must stay."""
    out: set[str] = set()
    for d in list_dir(containers_dir(store)):
        try:
            out.update(json.loads(read_bytes(os.path.join(d, "layers.json"))))
        except (OSError, ValueError, TypeError):
            continue
    return out


def _state(store, cid: str) -> tuple[str, dict]:
    d = _container_dir(store, cid)
    try:
        return d, json.loads(read_bytes(os.path.join(d, "state.json")))
    except (FileNotFoundError, ValueError):
        raise NotFound(f"no such container: {cid}") from None


def status(state: dict) -> str:
    """running, or exited (stopped, or its process ended by itself)."""
    if state.get("finished"):
        return "exited"
    r = subprocess.run(runc_argv("state", state["runc"]), capture_output=True, text=True)
    return "running" if r.returncode == 0 and json.loads(r.stdout or "{}").get("status") == "running" else "exited"


def stop(store, cid: str, timeout: float = 10) -> None:
    """TERM, then KILL after `timeout` s; the container's mount and network go, its log
    and state stay (logs, ps -a) until rm."""
    d, state = _state(store, cid)
    if state.get("finished"):
        return
    rid = state["runc"]
    subprocess.run(runc_argv("kill", rid, "TERM"), capture_output=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(runc_argv("state", rid), capture_output=True, text=True)
        if r.returncode != 0 or json.loads(r.stdout or "{}").get("status") == "stopped":
            break
        time.sleep(0.1)
    subprocess.run(runc_argv("kill", rid, "KILL"), capture_output=True)
    subprocess.run(runc_argv("delete", "--force", rid), capture_output=True)
    _teardown(d, keep_record=True)
    write_text(os.path.join(d, "state.json"), json.dumps({**state, "finished": time.time()}))


def remove(store, cid: str, force: bool = False) -> None:
    """`rm`: a stopped container's record (its log); `force` stops a running one first."""
    d, state = _state(store, cid)
    if status(state) == "running":
        if not force:
            raise DistillError(f"container {cid} is running: stop it first, or rm -f")
        stop(store, cid, 0)
    elif not state.get("finished"):  # its process ended by itself: what it held goes now
        subprocess.run(runc_argv("delete", "--force", state["runc"]), capture_output=True)
    _teardown(d)


def listing(store, everything: bool = False) -> list[dict]:
    """`ps`: the detached containers (`everything`: stopped ones too), newest first."""
    rows = []
    for d in list_dir(containers_dir(store)):
        try:
            state = json.loads(read_bytes(os.path.join(d, "state.json")))
        except (OSError, ValueError):
            continue  # a foreground run's, or one being made
        state["status"] = status(state)
        if everything or state["status"] == "running":
            rows.append(state)
    return sorted(rows, key=lambda st: -st.get("started", 0))


def logs(store, cid: str, follow: bool = False, out=None) -> bytes:
    """What the container wrote; `follow`: written to `out` as it comes, until it stops."""
    d, state = _state(store, cid)
    path = os.path.join(d, "log")
    if not follow:
        return read_bytes(path) if os.path.exists(path) else b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            if status(_state(store, cid)[1]) != "running":
                out.write(f.read())
                out.flush()
                return b""
            time.sleep(0.1)
