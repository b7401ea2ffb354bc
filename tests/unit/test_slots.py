"""Stage admission: the cap, and past it only after a window of idle CPU."""

import threading
import time

from distill.build.solver import slots
from distill.build.solver.slots import Slots, idle_ticks

PROC_STAT = """cpu  900 0 100 5000 50 0 0 0 0 0
cpu0 400 0 50 2000 25 0 0 0 0 0
cpu1 500 0 50 3000 25 0 0 0 0 0
intr 12345
ctxt 999
"""


def test_idle_ticks_counts_only_the_cpus_asked_for():
    assert idle_ticks(PROC_STAT, {0}) == (2000, 2475)
    assert idle_ticks(PROC_STAT, {0, 1}) == (5000, 6050)
    assert idle_ticks(PROC_STAT, {7}) == (0, 0)


class FakeIdleness:
    def __init__(self, idle: float):
        self.idle = idle
        self.resets = 0

    def reset(self):
        self.resets += 1

    def idle_cpus(self):
        return self.idle


def start(s: Slots, cancelled=None) -> threading.Thread:
    cancelled = cancelled or threading.Event()
    t = threading.Thread(target=s.acquire, args=(cancelled,), daemon=True)
    t.start()
    return t


def test_strict_cap_waits_for_a_release():
    s = Slots(1, elastic=False)
    never = threading.Event()
    assert s.acquire(never)
    waiter = start(s)
    time.sleep(3 * slots.WINDOW)
    assert waiter.is_alive() and s.running == 1
    s.release()
    waiter.join(1)
    assert not waiter.is_alive() and s.running == 1


def test_elastic_admits_past_the_cap_only_while_idle():
    busy = FakeIdleness(0.1)
    s = Slots(1, elastic=True, idleness=busy)
    assert s.acquire(threading.Event())
    waiter = start(s)
    time.sleep(4 * slots.WINDOW)
    assert waiter.is_alive(), "admitted while the CPU was busy"
    busy.idle = 1.0
    waiter.join(1)
    assert not waiter.is_alive() and s.running == 2


def test_elastic_measures_a_fresh_window_after_each_start():
    idle = FakeIdleness(2.0)
    s = Slots(1, elastic=True, idleness=idle)
    assert s.acquire(threading.Event())
    waiters = [start(s) for _ in range(2)]
    for w in waiters:
        w.join(2)
    assert s.running == 3
    assert idle.resets >= 2  # each admission past the cap began a new window


def test_cancel_ends_the_wait():
    s = Slots(1, elastic=False)
    assert s.acquire(threading.Event())
    cancelled = threading.Event()
    cancelled.set()
    assert s.acquire(cancelled) is False
