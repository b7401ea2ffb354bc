"""Helper processes (the port proxy, pasta) started and waited for until they are ready:
each writes its PID file once it is."""

from __future__ import annotations

import subprocess
import time

from distill.fs.files import read_bytes

READY_TIMEOUT = 30.0


def start_ready(argv: list[str], pid_file: str, log: str, bound: bool) -> tuple[int, str]:
    """Starts a helper that writes `pid_file` once it is ready; (0, "") or (exit, stderr).
    `bound`: killed (SIGKILL, by the kernel) when the thread that starts it ends, which for
    a foreground `distill run`, the one caller, is its main thread: the process's end;
    else in a session of its own, to outlive it."""
    with open(log, "wb") as err:
        if bound:
            proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", *argv], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        else:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc.returncode or 1, read_bytes(log).decode(errors="replace")
        try:
            if read_bytes(pid_file).strip():
                return 0, ""
        except OSError:
            pass
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    return 1, f"not ready in {READY_TIMEOUT:.0f} s"
