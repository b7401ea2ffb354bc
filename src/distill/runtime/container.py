"""`distill run`: an image's filesystem (overlay over its unpacked layers, changes thrown
away) started with runc, in the foreground or detached (`distill stop ID` ends it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from ..config import DEFAULT_PATH
from ..errors import DistillError, NotFound
from ..fsroot import read_text
from ..snapshot.overlay import _mount, lower_stack, umount
from ..snapshot.unpack import empty_dir, snapshots_dir, unpacked
from . import runc
from .spec import BindMount, ProcessSpec, runtime_spec
from .users import resolve as resolve_user


def containers_dir(store) -> Path:
    d = store.root / "containers"
    d.mkdir(exist_ok=True)
    return d


def _process(image, root: str, args: list[str], env: list[str], workdir: str | None, user: str | None,
             entrypoint: str | None, network: str, binds: list[BindMount], tty: bool) -> ProcessSpec:
    cfg = image.config.get("config") or {}
    ep = [entrypoint] if entrypoint else (cfg.get("Entrypoint") or [])
    if entrypoint == "":
        ep = []
    cmd = args or ([] if entrypoint is not None else (cfg.get("Cmd") or []))
    argv = list(ep) + list(cmd)
    if not argv:
        raise DistillError("no command: the image has neither ENTRYPOINT nor CMD, and none was given")
    merged_env = {}
    for item in (cfg.get("Env") or [DEFAULT_PATH]) + env:
        k, _, v = item.partition("=")
        merged_env[k] = v
    ident = resolve_user(user if user is not None else cfg.get("User") or "", read_text(root, "/etc/passwd"),
                         read_text(root, "/etc/group"))
    merged_env.setdefault("HOME", ident.home)
    if tty:
        merged_env.setdefault("TERM", "xterm")  # as docker run -t sets it
    return ProcessSpec(argv, [f"{k}={v}" for k, v in merged_env.items()], workdir or cfg.get("WorkingDir") or "/",
                       ident.uid, ident.gid, list(ident.additional_gids), network,
                       binds=binds, terminal=tty)


def _prepare(store, image, cid: str) -> Path:
    d = containers_dir(store) / cid
    for sub in ("upper", "work", "merged"):
        (d / sub).mkdir(parents=True)
    (d / "layers.json").write_text(json.dumps(image.diff_ids))  # before the mount: prune keeps them
    lowers = [unpacked(store, l, i) for l, i in zip(image.layers, image.diff_ids)]
    stack = lower_stack(lowers, empty_dir(store))
    _mount(stack, d / "upper", d / "work", d / "merged", snapshots_dir(store))
    return d


def _teardown(d: Path) -> None:
    if (d / "merged").exists():
        umount(d / "merged")
    shutil.rmtree(d, ignore_errors=True)


def run(store, image, args: list[str], env: list[str], workdir: str | None = None, user: str | None = None,
        entrypoint: str | None = None, network: str = "host", detach: bool = False, interactive: bool = False,
        name: str | None = None, tty: bool = False) -> int | str:
    """Foreground: returns the exit code. Detached: returns the container id. With `tty`
    the process gets a terminal: runc, in the foreground, makes the pty, puts this
    terminal in raw mode and relays it (resizes too)."""
    if tty and (detach or not os.isatty(0)):
        raise DistillError("-t needs a terminal: " + ("not with -d" if detach else "the input device is not a TTY"))
    cid = name or os.urandom(6).hex()
    if (containers_dir(store) / cid).exists():
        raise DistillError(f"container {cid} already exists")
    d = _prepare(store, image, cid)
    try:
        spec = _process(image, str(d / "merged"), args, env, workdir, user, entrypoint, network,
                        runc.network_files(d), tty)
        (d / "config.json").write_text(json.dumps(runtime_spec(str(d / "merged"), spec)))
        rid = f"distill-run-{cid}"
        if detach:
            log = open(d / "log", "wb")
            r = subprocess.run([runc.RUNC, "run", "--detach", "--bundle", str(d), rid], stdin=subprocess.DEVNULL,
                               stdout=log, stderr=log)
            log.close()
            if r.returncode != 0:
                raise DistillError(f"runc could not start the container: {(d / 'log').read_text()[-500:]}")
            (d / "state.json").write_text(json.dumps({"id": cid, "runc": rid, "image": image.config_digest,
                                                      "started": time.time()}))
            return cid
        proc = subprocess.Popen([runc.RUNC, "run", "--bundle", str(d), rid],
                                stdin=None if interactive or tty else subprocess.DEVNULL)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            runc.cleanup(rid)
            proc.wait()
            return 130
        finally:
            subprocess.run([runc.RUNC, "delete", "--force", rid], capture_output=True)
    except BaseException:
        if not detach or not (d / "state.json").exists():
            _teardown(d)
        raise
    finally:
        if not detach:
            _teardown(d)


def in_use_diff_ids(store) -> set[str]:
    """The layers under containers that exist (running, or left by a killed run): their
    snapshots are lower dirs of a mount and must stay."""
    out: set[str] = set()
    for d in containers_dir(store).iterdir():
        try:
            out.update(json.loads((d / "layers.json").read_text()))
        except (OSError, ValueError, TypeError):
            continue
    return out


def stop(store, cid: str, timeout: float = 10) -> None:
    d = containers_dir(store) / cid
    try:
        state = json.loads((d / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        raise NotFound(f"no such container: {cid}") from None
    rid = state["runc"]
    subprocess.run([runc.RUNC, "kill", rid, "TERM"], capture_output=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run([runc.RUNC, "state", rid], capture_output=True, text=True)
        if r.returncode != 0 or json.loads(r.stdout or "{}").get("status") == "stopped":
            break
        time.sleep(0.1)
    subprocess.run([runc.RUNC, "kill", rid, "KILL"], capture_output=True)
    subprocess.run([runc.RUNC, "delete", "--force", rid], capture_output=True)
    _teardown(d)


def logs(store, cid: str) -> bytes:
    d = containers_dir(store) / cid
    try:
        return (d / "log").read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no such container: {cid}") from None
