"""A build or a foreground `distill run` lives in a mount namespace and a PID namespace of
its own, so that when it dies, however it dies, the kernel ends everything it started:
its mounts (overlays, network namespace files) go with the mount namespace, and every
process in the PID namespace — a port proxy, runc, the RUN step's container in the namespace
runc nests inside — is killed when its first process ends. docker and BuildKit have a
daemon that outlives its builds to clean up; a daemonless builder has the kernel do it.

The process the user started stays outside as a supervisor: it forwards the signals sent
to it, waits, and exits as the build did. The build runs as the new namespace's first
process, which the supervisor's death kills (a parent-death signal)."""

from __future__ import annotations

import os
import signal

from distill.fs.syscalls import MNT_DETACH, c_library, umount

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_PDEATHSIG = 1
SI_KERNEL = 0x80  # a signal the terminal sent (to the whole foreground group)

PROC_ENV = "DISTILL_PROC"  # "bind": containers get this process's /proc bound, not a new one

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

def isolate() -> bool:
    """From here on, this process is the first of new mount and PID namespaces (the one
    that called it waits outside and never returns). Must come before any thread starts.
    False when it cannot be done (not root): the build then runs as before. Where a new
    PID namespace could not have a /proc of its own (a container's /proc, with docker's
    masked paths), only the mount namespace is made: containers then see this /proc,
    bound (PROC_ENV), as BuildKit's without its process sandbox."""
    from distill.fs import in_user_namespace

    libc = c_library()
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    if libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None) != 0:
        return False  # mounts would still reach the machine's namespace: as before, no worse
    # root of the machine always can; in a user namespace, the /proc it sees decides
    if in_user_namespace() and not _proc_for_new_pid_namespace(libc):
        os.environ[PROC_ENV] = "bind"
        return True
    if libc.unshare(CLONE_NEWPID) != 0:
        return True
    watch_r, watch_w = os.pipe()
    mask = set(FORWARDED) | {signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, mask)  # before the fork: no SIGCHLD is missed
    child = os.fork()
    if child:
        os.close(watch_r)
        _supervise(child, mask)  # never returns
    os.close(watch_w)
    # the namespace's first process ignores the signals it has no handler for, where their
    # default would end it (a hang-up, a quit, a CI runner's TERM): handlers before the
    # signals the supervisor forwarded meanwhile are unblocked, or those are lost
    from distill.errors import interrupt

    for signum in FORWARDED:
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, interrupt)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, mask)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    import select

    if select.select([watch_r], [], [], 0)[0]:  # the supervisor died before the line above
        os._exit(1)
    # this namespace's own /proc: runc reads /proc/PID of the processes it starts
    from distill.build.runtime.binfmt import remember

    remember()  # binfmt_misc is not in the new /proc: which emulators there are is read first
    libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    return True


def _proc_for_new_pid_namespace(libc) -> bool:
    """Whether the first process of a new PID namespace could mount its /proc, tried by a
    child (this process must not make the namespace to find out: after unshare it could
    start no thread). The kernel refuses where the visible /proc has paths mounted over,
    as docker masks a container's."""
    probe = f"/tmp/distill-proc-{os.urandom(6).hex()}"  # not tempfile: it imports shutil (~3 ms)
    os.mkdir(probe, 0o700)
    try:
        child = os.fork()
        if child == 0:
            ok = libc.unshare(CLONE_NEWPID) == 0
            if ok:
                first = os.fork()
                if first == 0:
                    mounted = libc.mount(b"proc", os.fsencode(probe), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                         None) == 0
                    if mounted:
                        libc.umount2(os.fsencode(probe), MNT_DETACH)
                    os._exit(0 if mounted else 1)
                ok = os.waitstatus_to_exitcode(os.waitpid(first, 0)[1]) == 0
            os._exit(0 if ok else 1)
        return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    finally:
        os.rmdir(probe)


def describe() -> dict:
    """How this process isolates RUN steps, as the build record keeps it: runc, in a user
    namespace of distill's or not (its ids: "full", "single", "identity"), with a PID
    namespace and /proc of the build's own (the process sandbox) or the builder's /proc
    bound, and the network a RUN gets by default."""
    from distill.fs import in_chroot_isolation, user_namespace_ids

    if in_chroot_isolation():
        return {"runtime": "chroot", "user_namespace": None, "process_sandbox": False, "default_network": "host"}
    sandbox = os.environ.get(PROC_ENV) != "bind"
    return {"runtime": "runc", "user_namespace": user_namespace_ids() or None, "process_sandbox": sandbox,
            "default_network": default_network()}


def default_network() -> str:
    """The network a RUN gets by default: the private one, or, for root confined without
    CAP_SYS_ADMIN (a container's: its "identity" user namespace) where no private network
    can be made (no /dev/net/tun open to it, or /proc/sys read-only: nothing could
    forward), the container's own, as rootless BuildKit's there. A machine's user gets
    the error instead (router.py, bridge.py): the machine's network is no sandbox."""
    from distill.fs import in_chroot_isolation, user_namespace_ids

    if in_chroot_isolation():
        return "host"
    if user_namespace_ids() == "identity" and not (
            os.access("/dev/net/tun", os.R_OK | os.W_OK) and not os.statvfs("/proc/sys").f_flag & os.ST_RDONLY):
        return "host"
    return "private"


def summary(isolation: dict) -> str | None:
    """The line a build's progress says when it is not root's plain runc."""
    if isolation["runtime"] == "chroot":
        return ("isolation: chroot (this container refuses namespaces): RUN shares the container's network, "
                "processes and capabilities")
    if not isolation["user_namespace"]:
        return None
    ids = {"full": "the user and its subordinate ids", "single": "only the user's id",
           "identity": "every id of the container as itself"}[isolation["user_namespace"]]
    text = f"isolation: runc in a user namespace mapping {ids}"
    if not isolation["process_sandbox"]:
        text += "; no process sandbox (the container's /proc bound)"
    if isolation["default_network"] == "host":
        text += "; RUN's default network: the container's"
    return text


def _supervise(child: int, mask: set) -> None:
    """Forwards signals to `child` until it ends, then ends as it did. A signal the
    terminal sent reached the child already (the same process group)."""
    status = None
    while status is None:
        info = signal.sigwaitinfo(mask)
        if info.si_signo == signal.SIGCHLD:
            pid, st = os.waitpid(child, os.WNOHANG)
            if pid == child:
                status = st
            continue
        if info.si_code == SI_KERNEL and info.si_signo in (signal.SIGINT, signal.SIGQUIT):
            continue
        try:
            os.kill(child, info.si_signo)
        except ProcessLookupError:
            pass
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def detach(path: str) -> None:
    """umount2(path, MNT_DETACH); a path that is no mount is left alone."""
    if umount(path, MNT_DETACH) != 0:
        import subprocess

        subprocess.run(["umount", "--lazy", path], capture_output=True)
