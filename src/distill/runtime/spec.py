"""The OCI runtime spec for a RUN step or `distill run`: pure data from what the step says."""

from __future__ import annotations

from ..record import Record, fresh
from . import seccomp

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


def runtime_spec(rootfs: str, p: ProcessSpec) -> dict:
    caps = DEFAULT_CAPS if not p.insecure else DEFAULT_CAPS + ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]
    for b in p.binds:
        opts = ["rbind", "ro" if b.readonly else "rw"]
        mounts.append({"destination": b.destination, "type": "bind", "source": b.source, "options": opts})
    for t in p.tmpfs:
        mounts.append({"destination": t, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]})
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if p.network:
        namespaces.append(p.network)
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
            **({} if p.insecure else {"seccomp": seccomp.profile()}),
        },
    }
