"""The seccomp filter of a RUN step or `distill run`: docker's default profile, as data.

An allow-list, as docker's: a system call not named here is refused with EPERM (runc
answers ENOSYS for one newer than its libseccomp knows, so programs fall back as they do
on an older kernel). Some calls are allowed only with a capability the container holds
(mount with CAP_SYS_ADMIN, ptrace with CAP_SYS_PTRACE...), on some architectures, or for
some arguments (personality's personas, socket's families, clone without namespace flags).
The rules follow moby's profiles/seccomp/default.json as docker 25 and later ship it
(io_uring refused; docker 20.10 allowed it). `RUN --security=insecure` runs without a
filter, as BuildKit's privileged steps do."""

from __future__ import annotations

import os

from distill.record import Record

EPERM, ENOSYS = 1, 38

# Allowed whatever the container's capabilities and the call's arguments.
ALWAYS = frozenset("""
    accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
    chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
    exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod
    fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr
    flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
    ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
    get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid getegid32 geteuid
    geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid
    getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
    getrusage getsid getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr
    getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
    io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl
    ioprio_get ioprio_set ipc kill landlock_add_rule landlock_create_ruleset
    landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
    listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
    map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
    mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget
    msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
    _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
    pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
    process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
    readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr
    removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq
    rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max
    sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
    sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
    sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
    set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
    setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid
    setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid
    setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd
    signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64
    statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
    timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
    uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
    writev
""".split())

CLONE_NAMESPACES = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
AF_ALG, AF_VSOCK = 38, 40


class Arg(Record):
    """A condition on argument `index`: `op` (EQ, NE, LT, GT, MASKED_EQ) against `value`;
    MASKED_EQ compares (arg & value) with `masked`."""

    index: int
    op: str
    value: int
    masked: int = 0

    def spec(self) -> dict:
        out = {"index": self.index, "value": self.value, "op": f"SCMP_CMP_{self.op}"}
        if self.op == "MASKED_EQ":
            out["valueTwo"] = self.masked
        return out


class Rule(Record):
    """`names` get `errno` (0: allowed) when every condition holds: `args`; the container
    holds all of `caps` and none of `unless_caps`; the machine is one of `arches` (when
    given) and none of `unless_arches`; the kernel is at least `min_kernel`."""

    names: tuple[str, ...]
    args: tuple[Arg, ...] = ()
    caps: tuple[str, ...] = ()
    unless_caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    unless_arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] = (0, 0)
    errno: int = 0

    def applies(self, caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
        return (all(c in caps for c in self.caps) and not any(c in caps for c in self.unless_caps)
                and (not self.arches or arch in self.arches) and arch not in self.unless_arches
                and kernel >= self.min_kernel)

    def spec(self) -> dict:
        out = {"names": list(self.names), "action": "SCMP_ACT_ERRNO" if self.errno else "SCMP_ACT_ALLOW"}
        if self.errno:
            out["errnoRet"] = self.errno
        if self.args:
            out["args"] = [a.spec() for a in self.args]
        return out


SYS_ADMIN_CALLS = (
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
    "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr", "move_mount",
    "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
    "umount", "umount2", "unshare")

RULES = (
    Rule(("process_vm_readv", "process_vm_writev", "ptrace"), min_kernel=(4, 8)),
    # every address family but AF_ALG and AF_VSOCK
    Rule(("socket",), (Arg(0, "LT", AF_ALG),)),
    Rule(("socket",), (Arg(0, "EQ", AF_ALG + 1),)),
    Rule(("socket",), (Arg(0, "GT", AF_VSOCK),)),
    # PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query: not ADDR_NO_RANDOMIZE
    *(Rule(("personality",), (Arg(0, "EQ", persona),)) for persona in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
    Rule(("sync_file_range2", "swapcontext"), arches=("ppc64le",)),
    Rule(("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"),
         arches=("arm", "arm64")),
    Rule(("arch_prctl",), arches=("amd64", "x32")),
    Rule(("modify_ldt",), arches=("amd64", "x32", "x86")),
    Rule(("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"), arches=("s390", "s390x")),
    Rule(("riscv_flush_icache",), arches=("riscv64",)),
    Rule(("open_by_handle_at",), caps=("CAP_DAC_READ_SEARCH",)),
    Rule(SYS_ADMIN_CALLS, caps=("CAP_SYS_ADMIN",)),
    # without CAP_SYS_ADMIN: clone only when it makes no namespace (s390 passes flags second)
    Rule(("clone",), (Arg(0, "MASKED_EQ", CLONE_NAMESPACES),), unless_caps=("CAP_SYS_ADMIN",),
         unless_arches=("s390", "s390x")),
    Rule(("clone",), (Arg(1, "MASKED_EQ", CLONE_NAMESPACES),), unless_caps=("CAP_SYS_ADMIN",),
         arches=("s390", "s390x")),
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone
    Rule(("clone3",), unless_caps=("CAP_SYS_ADMIN",), errno=ENOSYS),
    Rule(("reboot",), caps=("CAP_SYS_BOOT",)),
    Rule(("chroot",), caps=("CAP_SYS_CHROOT",)),
    Rule(("delete_module", "init_module", "finit_module"), caps=("CAP_SYS_MODULE",)),
    Rule(("acct",), caps=("CAP_SYS_PACCT",)),
    Rule(("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"),
         caps=("CAP_SYS_PTRACE",)),
    Rule(("iopl", "ioperm"), caps=("CAP_SYS_RAWIO",)),
    Rule(("settimeofday", "stime", "clock_settime", "clock_settime64"), caps=("CAP_SYS_TIME",)),
    Rule(("vhangup",), caps=("CAP_SYS_TTY_CONFIG",)),
    Rule(("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"), caps=("CAP_SYS_NICE",)),
    Rule(("syslog",), caps=("CAP_SYSLOG",)),
    Rule(("bpf",), caps=("CAP_BPF",)),
    Rule(("perf_event_open",), caps=("CAP_PERFMON",)),
)

# libseccomp's name of the machine (docker's `arches`), and every ABI a program of it can use
MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "x86", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}
ABIS = {"amd64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "arm64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
        "riscv64": ["SCMP_ARCH_RISCV64"]}


def kernel_version(release: str) -> tuple[int, int]:
    parts = (release.split("-")[0].split(".") + ["0", "0"])[:2]
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except ValueError:
        return (0, 0)


def profile(caps: list[str], machine: str | None = None, release: str | None = None) -> dict:
    """The spec's linux.seccomp for a container holding `caps` (its bounding set)."""
    uname = os.uname()
    arch = MACHINES.get(machine or uname.machine, machine or uname.machine)
    kernel = kernel_version(release or uname.release)
    held = set(caps)
    rules = [{"names": sorted(ALWAYS), "action": "SCMP_ACT_ALLOW"}]
    rules += [r.spec() for r in RULES if r.applies(held, arch, kernel)]
    out = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM, "syscalls": rules}
    if arch in ABIS:
        out["architectures"] = ABIS[arch]
    return out
