"""Users other than root for the rootless tests: made on the machine with useradd, given
subordinate ids (or none), and commands run as them with setpriv."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

SUBID_FILES = ("/etc/subuid", "/etc/subgid")
RANGE = 65536


def ensure_user(name: str, subordinate: bool) -> pwd.struct_passwd:
    """The user `name` (made when missing), with one range of subordinate ids in
    /etc/subuid and /etc/subgid, or with none."""
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)
        user = pwd.getpwnam(name)
    for path in SUBID_FILES:
        lines = Path(path).read_text().splitlines() if os.path.exists(path) else []
        mine = [l for l in lines if l.split(":")[0] in (name, str(user.pw_uid))]
        if subordinate and not mine:
            ends = [int(f[1]) + int(f[2]) for f in (l.split(":") for l in lines) if len(f) == 3
                    and f[1].isdigit() and f[2].isdigit()]
            lines.append(f"{name}:{max(ends + [100000])}:{RANGE}")
        elif not subordinate and mine:
            lines = [l for l in lines if l not in mine]
        else:
            continue
        Path(path).write_text("".join(l + "\n" for l in lines))
    return user


def reachable_by_all(path: Path) -> None:
    """Every directory above `path` searchable by others, so another user can run this
    checkout's interpreter and read a test's files."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def command_as(user: pwd.struct_passwd, *args, env: dict | None = None, program: list[str] | None = None) -> list[str]:
    """The `distill` command line as `user` (`program`: how distill is started, `python
    -m distill` by default), with its own environment (no DISTILL_ROOT: its store is
    the default, ~/.local/share/distill)."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": user.pw_dir, "USER": user.pw_name,
         "LANG": "C.UTF-8", **(env or {})}
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--reset-env",
            "env", *(f"{k}={v}" for k, v in e.items()), *(program or [sys.executable, "-m", "distill"]),
            *map(str, args)]


def distill_as(user: pwd.struct_passwd, *args, check: bool = True, env: dict | None = None,
               input: str | None = None) -> subprocess.CompletedProcess:
    """command_as(), run to its end in the user's home."""
    r = subprocess.run(command_as(user, *args, env=env), capture_output=True, text=True, cwd=user.pw_dir,
                       input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"distill {' '.join(map(str, args))} as {user.pw_name} failed ({r.returncode}): "
                             f"{r.stderr}")
    return r


def served_by(user: pwd.struct_passwd, port: int, *run_args, timeout: float = 30) -> str:
    """What `distill run -p PORT:… ARGS` as `user`, in the foreground, serves at
    http://127.0.0.1:PORT/ once it answers; the run is ended before this returns."""
    import time
    import urllib.request

    proc = subprocess.Popen(command_as(user, "run", "--rm", "-p", *run_args), cwd=user.pw_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
            except OSError:
                assert time.time() < deadline and proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=timeout)
