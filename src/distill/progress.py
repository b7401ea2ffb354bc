"""Build progress in BuildKit's shape: a numbered line per step, CACHED for hits, the
running step's output, its duration. `plain` for logs and CI; `tty` redraws in place."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, mode: str = "auto", stream=None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "tty" if hasattr(self.stream, "isatty") and self.stream.isatty() else "plain"
        self.mode = mode
        self.lock = threading.Lock()
        self.counter = 0
        self.started = time.monotonic()

    def _write(self, text: str) -> None:
        if self.mode == "quiet":
            return
        with self.lock:
            self.stream.write(text)
            self.stream.flush()

    def step(self, title: str) -> "StepProgress":
        with self.lock:
            self.counter += 1
            n = self.counter
        return StepProgress(self, n, title)

    def message(self, text: str) -> None:
        self._write(text + "\n")


class StepProgress:
    TAIL = 6

    def __init__(self, parent: Progress, n: int, title: str):
        self.p, self.n, self.title = parent, n, title
        self.t0 = time.monotonic()
        self.lines: list[str] = []
        self._partial = b""
        self.p._write(f"#{n} {title}\n")

    def output(self, chunk: bytes) -> None:
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            self.lines.append(line)
            if self.p.mode in ("plain", "tty"):
                elapsed = time.monotonic() - self.t0
                self.p._write(f"#{self.n} {elapsed:.3f} {line}\n")

    def tail(self) -> list[str]:
        rest = [self._partial.decode("utf-8", "replace")] if self._partial else []
        return (self.lines + rest)[-20:]

    def cached(self) -> None:
        self.p._write(f"#{self.n} CACHED\n")

    def done(self) -> None:
        self.output(b"\n") if self._partial else None
        self.p._write(f"#{self.n} DONE {time.monotonic() - self.t0:.1f}s\n")

    def error(self, message: str) -> None:
        self.p._write(f"#{self.n} ERROR: {message}\n")
