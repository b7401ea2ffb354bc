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
        self.steps: list[StepProgress] = []
        self._live = None
        if mode == "tty":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.stream), refresh_per_second=8, transient=False,
                              get_renderable=self._render)
            self._live.start()

    def close(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def _render(self):
        from rich.text import Text

        with self.lock:
            steps = list(self.steps)
        done = sum(1 for s in steps if s.state != "running")
        out = Text(f"[+] Building {time.monotonic() - self.started:.1f}s ({done}/{len(steps)})\n", style="bold")
        for s in steps:
            took = f"{(s.ended or time.monotonic()) - s.t0:.1f}s"
            if s.state == "cached":
                out.append(f" => CACHED {s.title}\n", style="blue")
            elif s.state == "error":
                out.append(f" => ERROR {s.title}  {took}\n", style="red")
            else:
                out.append(f" => {s.title}  {took}\n", style=None if s.state == "done" else "yellow")
                if s.state == "running":
                    for line in s.lines[-StepProgress.TAIL:]:
                        out.append(f" => => {line[:150]}\n", style="dim")
        return out

    def _write(self, text: str) -> None:
        if self.mode in ("quiet", "tty"):
            return  # tty: the live view draws everything
        with self.lock:
            self.stream.write(text)
            self.stream.flush()

    def step(self, title: str) -> "StepProgress":
        with self.lock:
            self.counter += 1
            n = self.counter
        sp = StepProgress(self, n, title)
        with self.lock:
            self.steps.append(sp)
        return sp

    def message(self, text: str) -> None:
        if self.mode == "tty":  # shown as a finished line of the live view
            sp = StepProgress(self, 0, text.split(" ", 1)[-1])
            sp._end("done")
            with self.lock:
                self.steps.append(sp)
            return
        self._write(text + "\n")


class StepProgress:
    TAIL = 6

    def __init__(self, parent: Progress, n: int, title: str):
        self.p, self.n, self.title = parent, n, title
        self.t0 = time.monotonic()
        self.lines: list[str] = []
        self._partial = b""
        self.state = "running"
        self.ended: float | None = None
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

    def _end(self, state: str) -> None:
        self.state, self.ended = state, time.monotonic()

    def cached(self) -> None:
        self._end("cached")
        self.p._write(f"#{self.n} CACHED\n")

    def done(self) -> None:
        if self._partial:
            self.output(b"\n")
        self._end("done")
        self.p._write(f"#{self.n} DONE {self.ended - self.t0:.1f}s\n")

    def error(self, message: str) -> None:
        self._end("error")
        self.p._write(f"#{self.n} ERROR: {message}\n")
