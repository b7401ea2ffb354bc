"""Steps claimed by the builds of one process. When two of them reach the same step at
once (the platforms of one build, each with a stage FROM --platform=$BUILDPLATFORM that
names no TARGET* argument; or two stages of one build alike), one runs it and the other
waits, then takes its record from the cache, as BuildKit's solver merges identical
vertices."""

from __future__ import annotations

import threading

from distill.errors import DistillError

_lock = threading.Lock()
_running: dict[str, threading.Event] = {}


def claim(key: str, cancelled: threading.Event) -> bool:
    """True: the caller runs the step, and release()s it after. False: another did
    meanwhile, and its record may now be in the cache."""
    with _lock:
        running = _running.get(key)
        if running is None:
            _running[key] = threading.Event()
            return True
    while not running.wait(0.2):
        if cancelled.is_set():
            raise DistillError("build cancelled")
    return False


def release(key: str) -> None:
    with _lock:
        running = _running.pop(key, None)
    if running is not None:
        running.set()
