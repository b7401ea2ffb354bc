"""Worker: a result or a failure carried back from its thread."""

import signal
import threading
import time

import pytest

from distill.threads import Worker


def test_result_comes_back_and_ended_is_set():
    ended = threading.Event()
    w = Worker(lambda a, b: a + b, 2, 3, ended=ended).start()
    assert w.result() == 5 and w.done.is_set() and ended.is_set()


def test_failure_is_raised_by_result_not_by_wait():
    def fail():
        raise ValueError("boom")

    w = Worker(fail).start()
    w.wait()
    assert w.done.is_set()
    with pytest.raises(ValueError, match="boom"):
        w.result()


def test_result_waits_for_the_thread():
    go = threading.Event()
    w = Worker(lambda: go.wait(5) and "late").start()
    assert not w.done.is_set()
    go.set()
    assert w.result() == "late"


def test_nothing_runs_before_start_and_waiting_for_it_returns_at_once():
    ran = []
    w = Worker(ran.append, 1)
    w.wait()
    assert ran == [] and not w.done.is_set()
    w.start().wait()
    assert ran == [1]


def test_wait_outlasts_an_interrupt_until_the_thread_has_ended():
    # a build interrupted twice must still let its stages unmount before it exits
    go, interrupted = threading.Event(), []

    def interrupt_then_release():
        time.sleep(0.1)
        interrupted.append(True)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C
        time.sleep(0.1)
        go.set()

    w = Worker(lambda: go.wait(5) and "late").start()
    threading.Thread(target=interrupt_then_release).start()
    w.wait()
    assert interrupted and w.done.is_set() and w.result() == "late"
