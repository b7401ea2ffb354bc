"""The seccomp filter of a RUN step or `distill run`: the system calls docker's default
profile refuses to a container with docker's default capabilities, refused with EPERM
(runc installs the filter from the spec).

docker's profile is an allow-list; this one denies the documented list and allows the
rest, so a system call newer than the list is allowed here (docs/architecture.md lists
the differences). `RUN --security=insecure` runs without a filter, as BuildKit's does."""

from __future__ import annotations

import os

EPERM, ENOSYS = 1, 38

# Refused whatever their arguments, grouped by why (docker's documentation gives each).
DENIED = {
    "kernel modules": ["create_module", "delete_module", "finit_module", "get_kernel_syms", "init_module",
                       "query_module"],
    "kernel keyring (not namespaced)": ["add_key", "keyctl", "request_key"],
    "mounts and namespaces": ["mount", "umount", "umount2", "pivot_root", "unshare", "setns", "fsopen", "fsconfig",
                              "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr"],
    "clocks (not namespaced)": ["clock_adjtime", "clock_settime", "settimeofday", "stime", "adjtimex"],
    "the machine itself": ["reboot", "kexec_load", "kexec_file_load", "swapon", "swapoff", "acct", "syslog",
                           "quotactl", "quotactl_fd", "nfsservctl", "sysfs", "_sysctl", "ustat", "uselib"],
    "kernel observation and tracing": ["bpf", "perf_event_open", "lookup_dcookie", "kcmp", "userfaultfd"],
    "memory policy (CAP_SYS_NICE)": ["get_mempolicy", "set_mempolicy", "mbind", "move_pages"],
    "file handles (the shocker escape)": ["name_to_handle_at", "open_by_handle_at"],
    "I/O ports and vm86": ["ioperm", "iopl", "vm86", "vm86old"],
    "io_uring (bypasses the filter)": ["io_uring_setup", "io_uring_enter", "io_uring_register"],
}

# clone and unshare making new namespaces: refused when any of these flags is set
NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                   "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}

# the filter covers every ABI a program of the machine can use
ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def profile(machine: str | None = None) -> dict:
    """The spec's linux.seccomp."""
    names = sorted({n for group in DENIED.values() for n in group})
    rules = [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM}]
    for flag in NAMESPACE_FLAGS.values():
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
                      "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]})
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    out = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}
    arches = ARCHITECTURES.get(machine or os.uname().machine)
    if arches:
        out["architectures"] = arches
    return out
