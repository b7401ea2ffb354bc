"""Worker: a function run in a thread of its own, whose result (or failure) can be waited
for. All a build needs of concurrent.futures, which takes ~8 ms to import."""

from __future__ import annotations

import _thread
import threading


class Worker:
    def __init__(self, fn, *args, ended: threading.Event | None = None):
        """fn(*args), to run once start() is called; `ended` (shared by several workers) is
        set when it ends. Made apart from started, so a caller can keep hold of a worker
        before it runs: whoever is interrupted must still find every thread it began."""
        self.done = threading.Event()
        self._call = (fn, args, ended)
        self._value = self._error = None
        self._launched = False

    def start(self) -> "Worker":
        # _thread, not threading.Thread: Thread.start() waits in Python code for the new
        # thread, and an interrupt there would leave a running thread unknown to its caller.
        # A C call is not interrupted half way, so once _launched is set the thread runs.
        self._launched = True
        try:
            _thread.start_new_thread(self._main, self._call)
        except RuntimeError:  # no thread could be made
            self._launched = False
            raise
        return self

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
        """Waits for the end (at once if never started), through further interrupts: the
        thread may be unmounting, and a second Ctrl-C must not end the process first."""
        while self._launched:
            try:
                self.done.wait()
                return
            except KeyboardInterrupt:
                continue

    def failed(self) -> bool:
        return self.done.is_set() and self._error is not None

    def result(self):
        """fn's return value, once it has ended; its exception is raised here."""
        self.done.wait()
        if self._error is not None:
            raise self._error
        return self._value
