"""How many stages build at once.

`--jobs N` is a hard cap. Without it the cap is the CPU count, but a stage that waits (a RUN
sleeping or on the network, a download) holds no CPU, so while the CPUs sit idle another
ready stage starts too, as `make -l` admits jobs by load rather than by count."""

from __future__ import annotations

import os
import threading
import time

WINDOW = 0.1      # seconds of CPU idleness that admit a stage past the cap
IDLE_CPUS = 0.5   # a stage past the cap starts while at least this much CPU went unused


def usable_cpus() -> set[int]:
    """The CPUs this process may run on (taskset and cpusets narrow os.cpu_count())."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def cpu_count() -> int:
    return len(usable_cpus())


def idle_ticks(proc_stat: str, cpus: set[int]) -> tuple[int, int]:
    """(idle, total) clock ticks of the given CPUs from /proc/stat's per-CPU lines."""
    idle = total = 0
    for line in proc_stat.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(x) for x in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        idle += ticks[3]
        total += sum(ticks)
    return idle, total


class CpuIdleness:
    """Unused CPUs (in CPUs' worth) between one reading of /proc/stat and the next."""

    def __init__(self, path: str = "/proc/stat"):
        self.path = path
        self.cpus = usable_cpus()
        self._last: tuple[int, int] | None = None

    def _read(self) -> tuple[int, int] | None:
        try:
            with open(self.path) as f:
                return idle_ticks(f.read(), self.cpus)
        except (OSError, ValueError):
            return None

    def reset(self) -> None:
        self._last = self._read()

    def idle_cpus(self) -> float:
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[1] <= last[1]:
            return 0.0
        return len(self.cpus) * (now[0] - last[0]) / (now[1] - last[1])


class Slots:
    """Admission of stages: `limit` at once; past it, only while the CPUs idle (`elastic`)."""

    def __init__(self, limit: int, elastic: bool, idleness=None):
        self.limit = limit
        self.elastic = elastic
        self.idleness = idleness or (CpuIdleness() if elastic else None)
        self.running = 0
        self._cond = threading.Condition()
        self._admitted_at = 0.0
        self._measured_at = 0.0

    def acquire(self, cancelled: threading.Event) -> bool:
        """Wait for a turn; False when the build was cancelled meanwhile."""
        with self._cond:
            while not cancelled.is_set():
                if self.running < self.limit or self._cpus_idle():
                    self.running += 1
                    self._admitted_at = time.monotonic()
                    return True
                self._cond.wait(WINDOW)
        return False

    def _cpus_idle(self) -> bool:
        """Past the cap: the CPUs left one idle over the last window, a window begun after
        the latest start so that a starting stage's own work counts."""
        if not self.elastic:
            return False
        now = time.monotonic()
        if self._measured_at <= self._admitted_at:
            self.idleness.reset()
            self._measured_at = now
            return False
        if now - self._measured_at < WINDOW / 2:
            return False
        self._measured_at = now
        return self.idleness.idle_cpus() >= IDLE_CPUS

    def release(self) -> None:
        with self._cond:
            self.running -= 1
            self._cond.notify()
