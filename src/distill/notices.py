"""What the user is told on standard error: one line each, said once, with what came from
an image (a file name, a label) escaped and a long line shortened in the middle."""

from __future__ import annotations

import sys

from distill.errors import LINE_MAX, one_line

_said: set[str] = set()


def warn(text: str) -> None:
    line = one_line(text, LINE_MAX - len("distill: warning: "))
    if line not in _said:
        _said.add(line)
        print(f"distill: warning: {line}", file=sys.stderr)
