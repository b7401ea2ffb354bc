"""Worker: a result or a failure carried back from its thread."""

import threading

import pytest

from distill.threads import Worker


def test_result_comes_back_and_ended_is_set():
    ended = threading.Event()
    w = Worker(lambda a, b: a + b, 2, 3, ended=ended)
    assert w.result() == 5 and w.done.is_set() and ended.is_set()


def test_failure_is_raised_by_result_not_by_wait():
    def fail():
        raise ValueError("boom")

    w = Worker(fail)
    w.wait()
    assert w.done.is_set()
    with pytest.raises(ValueError, match="boom"):
        w.result()


def test_result_waits_for_the_thread():
    go = threading.Event()
    w = Worker(lambda: go.wait(5) and "late")
    assert not w.done.is_set()
    go.set()
    assert w.result() == "late"
