"""The lowest floor: file operations (files), atomic writes and temp entries (atomic),
locks (lock), who made a temp entry (owner), paths confined to a root (confined)."""

import os

USERNS_ENV = "DISTILL_USERNS"  # set inside the user namespace a user other than root works in
CHROOT_ENV = "DISTILL_CHROOT"  # set where RUN is chrooted: a container that refuses namespaces


def in_user_namespace() -> bool:
    """This process works as root of a user namespace of its own (build/runtime/userns.py):
    what it writes as root is owned by a user, and overlayfs marks go in user.* xattrs."""
    return USERNS_ENV in os.environ


def in_chroot_isolation() -> bool:
    """RUN steps run chrooted, without namespaces (build/runtime/chroot.py)."""
    return CHROOT_ENV in os.environ


def user_namespace_ids() -> str:
    """"full" (the user's subordinate ids map too), "single" (only root maps), "identity"
    (root without CAP_SYS_ADMIN: every id as itself), or "" (not in a user namespace of
    distill's)."""
    return os.environ.get(USERNS_ENV, "")


CAP_SYS_ADMIN = 21


def needs_user_namespace() -> bool:
    """This process cannot mount or make namespaces as it is: a user other than root, or
    root without CAP_SYS_ADMIN (a container's under docker's default confinement), and
    not yet in a user namespace of distill's."""
    if USERNS_ENV in os.environ:
        return False
    if os.geteuid() != 0:
        return True
    held = capability_mask("CapEff")
    return held is not None and not held >> CAP_SYS_ADMIN & 1


def capability_mask(field: str) -> int | None:
    """One of this process's capability sets as /proc/self/status gives it (CapEff,
    CapBnd, ...), a mask by capability number; None when it cannot be read."""
    prefix = field.encode() + b":"
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(prefix):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


_boot: list[str] = []


def boot_id() -> str:
    """This boot of the machine ("" where it cannot be read): what was written and not
    synced before a crash may be lost, so such things name the boot they were made in."""
    if not _boot:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
                _boot.append(f.read().strip())
        except OSError:
            _boot.append("")
    return _boot[0]
