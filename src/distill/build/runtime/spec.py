"""The OCI runtime spec for a RUN step or `distill run`: pure data from what the step says."""

from __future__ import annotations

from distill.record import Record, fresh
from distill.build.runtime import seccomp

# docker's default capability set
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


class BindMount(Record):
    source: str
    destination: str
    readonly: bool = True


# A container's name for itself, which its /etc/hosts resolves (as BuildKit's sandbox does
# its own): tools that look their host up (sudo, hostname -f) find it.
HOSTNAME = "distill"


class ProcessSpec(Record, frozen=False):
    args: list[str]
    env: list[str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = fresh(list)
    network: dict | None = None  # the network namespace entry (runtime.network); None: the machine's
    hostname: str = HOSTNAME
    binds: list[BindMount] = fresh(list)
    tmpfs: list[str] = fresh(list)
    insecure: bool = False
    terminal: bool = False
    memory: int = 0       # the cgroup's memory limit in bytes (0: none)
    pids_limit: int = 0   # the cgroup's process limit (0: none)


def runtime_spec(rootfs: str, p: ProcessSpec, host_devices: list[dict] = (), held: int = (1 << 41) - 1,
                 userns: str = "", proc_bind: bool = False) -> dict:
    """`p.insecure` is docker's --privileged, as BuildKit's insecure mode: every capability
    there is to give (`held`: the builder's own bounding set, as a mask), no seccomp
    filter, no masked or read-only paths, /sys and the cgroup tree writable, and the
    machine's devices (`host_devices`). `userns`: runc runs as root of a user namespace
    (a user other than root builds) with its subordinate ids mapped ("full") or only
    root ("single"). The machine's network namespace is not its own there: /sys is bound
    from the machine's for the host network, as rootless podman does, since sysfs cannot
    be mounted; and with only root mapped, /dev/pts cannot belong to group tty (5).
    `proc_bind`: the builder's /proc and /sys are bound where new ones cannot be mounted
    (isolation.PROC_ENV: a container's, docker masking paths in both)."""
    caps = DEFAULT_CAPS if not p.insecure else caps_in(held)
    ro = [] if p.insecure else ["ro"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}
        if not proc_bind else
        {"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                     *(["gid=5"] if userns != "single" else [])]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", *ro]}
        if not (userns and p.network is None or proc_bind) else
        {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]},
        # the container's own cgroup, read-only (runtimes read their memory and CPU limits there)
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *ro]},
    ]
    for b in p.binds:
        opts = ["rbind", "ro" if b.readonly else "rw"]
        mounts.append({"destination": b.destination, "type": "bind", "source": b.source, "options": opts})
    for t in p.tmpfs:
        mounts.append({"destination": t, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]})
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if p.network:
        namespaces.append(p.network)
    resources: dict = {}
    if p.memory:
        resources["memory"] = {"limit": p.memory}
    if p.pids_limit:
        resources["pids"] = {"limit": p.pids_limit}
    if p.insecure:
        resources["devices"] = [{"allow": True, "access": "rwm"}]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": p.terminal,
            "user": {"uid": p.uid, "gid": p.gid, "additionalGids": p.additional_gids},
            "args": p.args,
            "env": p.env,
            "cwd": p.cwd or "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": p.hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": [] if p.insecure else MASKED,
            "readonlyPaths": [] if p.insecure else READONLY,
            **({"resources": resources} if resources else {}),
            **({"devices": list(host_devices)} if p.insecure else {"seccomp": seccomp.profile(caps)}),
        },
    }


# every capability by number, as the kernel's capability.h numbers them
CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]


def caps_in(mask: int) -> list[str]:
    """The capabilities of a mask as /proc/PID/status shows them (CapBnd)."""
    return [name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1]
