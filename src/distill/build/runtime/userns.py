"""A user other than root works as root of a user namespace of its own, as rootless
podman and BuildKit do. Inside, id 0 is the user and ids 1..N are the subordinate ids
/etc/subuid and /etc/subgid grant it (mapped by Debian's setuid newuidmap/newgidmap), so a
layer's owners are the image's own ids (a `chown 1000` in RUN gives 1000 in the layer) and
an image built so has the ID a root build gives. With no subordinate ids, only root maps
(to the user): files owned by any other id cannot be made, which a build says once.

Every command that touches the store enters it first, so the store's files, some owned by
subordinate ids, are read, written and removed by the same ids that made them."""

from __future__ import annotations

import os

from distill.fs import USERNS_ENV, needs_user_namespace

CLONE_NEWUSER = 0x10000000
SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"


def subordinate(path: str, user: str, uid: int) -> tuple[int, int] | None:
    """(first id, count) of the first range `path` grants the user (by name or number)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[1].isdigit() and parts[2].isdigit():
            if int(parts[2]) > 0:
                return int(parts[1]), int(parts[2])
    return None


def mapping(own: int, granted: tuple[int, int] | None) -> list[str]:
    """newuidmap's arguments after the PID: 0 → own id, 1.. → the granted range."""
    out = ["0", str(own), "1"]
    if granted is not None:
        out += ["1", str(granted[0]), str(granted[1])]
    return out


def _map_subordinate(pid: int, uid: int, gid: int, ranges, tools) -> bool:
    """newuidmap and newgidmap (setuid root) give `pid` the user's own id and its range."""
    null = os.open(os.devnull, os.O_RDWR)
    both = [os.posix_spawn(tool, [tool, str(pid), *mapping(own, granted)], os.environ,
                           file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
            for tool, own, granted in ((tools[0], uid, ranges[0]), (tools[1], gid, ranges[1]))]
    return all(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) == 0 for p in both)  # at once: setuid starts


def identity_map(own_map: str) -> str:
    """A child namespace's map giving each id of this namespace's map to itself."""
    lines = []
    for line in own_map.splitlines():
        fields = line.split()
        if len(fields) == 3 and all(f.isdigit() for f in fields):
            lines.append(f"{fields[0]} {fields[0]} {fields[2]}")
    return "\n".join(lines) + "\n"


def _map_identity(pid: int) -> bool:
    """Root (CAP_SETUID and CAP_SETGID, no CAP_SYS_ADMIN) writes `pid`'s maps itself."""
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/self/{name}") as f:
            own = f.read()
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(identity_map(own))
    return True


def _unshare_user() -> int:
    """unshare(CLONE_NEWUSER): 0, or the errno. os.unshare where Python has it (3.12);
    the C library's (ctypes, ~3 ms to load) only where it does not."""
    if hasattr(os, "unshare"):
        try:
            os.unshare(CLONE_NEWUSER)
            return 0
        except OSError as e:
            return e.errno
    import ctypes

    from distill.fs.syscalls import c_library

    return 0 if c_library().unshare(CLONE_NEWUSER) == 0 else ctypes.get_errno()


def enter() -> str:
    """Makes this process root of a new user namespace ("full": the subordinate ids map
    too; "single": only root; "identity": root's every id, as itself). Call before any thread starts. Every command of a user
    other than root pays this, so it imports nothing heavy (no subprocess, no shutil)."""
    import pwd

    from distill.fs.files import which

    uid, gid = os.getuid(), os.getgid()
    if uid == 0:  # root without CAP_SYS_ADMIN: every id it has maps to itself
        full = True
    else:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        ranges = subordinate(SUBUID, user, uid), subordinate(SUBGID, user, uid)
        tools = which("newuidmap"), which("newgidmap")
        full = all(ranges) and all(tools)
    go_r, go_w = os.pipe()
    helper = os.fork() if full else None
    if helper == 0:  # maps the parent once it has unshared, then ends
        os.close(go_w)
        os.read(go_r, 1)
        try:
            ok = _map_identity(os.getppid()) if uid == 0 else _map_subordinate(os.getppid(), uid, gid, ranges, tools)
        except OSError:
            ok = False
        os._exit(0 if ok else 1)
    os.close(go_r)
    err = _unshare_user()
    if helper:
        os.write(go_w, b"x")
        _, status = os.waitpid(helper, 0)
        full = err == 0 and os.waitstatus_to_exitcode(status) == 0
    os.close(go_w)
    if err:
        from distill.errors import DistillError

        raise DistillError(f"cannot make a user namespace ({os.strerror(err)}): this machine or container refuses "
                           "them (in docker, run with --security-opt seccomp=unconfined --security-opt "
                           "apparmor=unconfined, as rootless BuildKit asks)")
    if not full:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    kind = "identity" if uid == 0 else "full" if full else "single"
    os.environ[USERNS_ENV] = kind
    return kind


def become_root(store_root: str | None) -> str | None:
    """For a user other than root: enter() with the store and runc's records where that
    user keeps them (its store, default ~/.local/share/distill), decided before the ids
    change. None when this process is root already."""
    if not needs_user_namespace():
        return None
    from distill.build.runtime import RUNC_ROOT_ENV
    from distill.fs.owner import OWNERS_ENV
    from distill.image.store.layout import default_root

    store = os.path.abspath(store_root or default_root())
    os.environ["DISTILL_ROOT"] = store
    os.environ.setdefault(RUNC_ROOT_ENV, os.path.join(store, "runc"))
    os.environ.setdefault(OWNERS_ENV, os.path.join(store, "owners"))
    return enter()
