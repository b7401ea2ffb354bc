"""Worker: a function run in a thread of its own, whose result (or failure) can be waited
for. All a build needs of concurrent.futures, which takes ~8 ms to import."""

from __future__ import annotations

import threading


class Worker:
    def __init__(self, fn, *args, ended: threading.Event | None = None):
        """Starts fn(*args) at once; `ended` (shared by several workers) is set when it ends."""
        self.done = threading.Event()
        self._value = self._error = None
        self._thread = threading.Thread(target=self._main, args=(fn, args, ended), daemon=True)
        self._thread.start()

    def _main(self, fn, args, ended) -> None:
        try:
            self._value = fn(*args)
        except BaseException as e:
            self._error = e
        finally:
            self.done.set()
            if ended is not None:
                ended.set()

    def wait(self) -> None:
        self._thread.join()

    def result(self):
        """fn's return value, once it has ended; its exception is raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
