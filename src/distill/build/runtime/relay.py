"""A step's process, its output relayed chunk by chunk until it ends (runc's and the
chroot isolation's alike)."""

from __future__ import annotations

import select
import subprocess
import threading
from collections.abc import Callable

from distill.errors import DistillError


def relay(proc: subprocess.Popen, on_output: Callable[[bytes], None] | None, cancel: threading.Event,
          stop: Callable[[], None]) -> int:
    """The exit code of `proc`, its output to `on_output`. It wakes now and then to call
    `stop` once `cancel` is set (a stop may come before the process can be killed, runc
    still creating the container); "interrupted" when it was."""
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if cancel.is_set():
            stop()
        if not ready:
            continue
        chunk = proc.stdout.read1(65536)
        if not chunk:
            break
        if on_output:
            on_output(chunk)
    code = proc.wait()
    if cancel.is_set():
        raise DistillError("interrupted")
    return code
