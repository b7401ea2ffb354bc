"""Sizes as people write them."""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40}


def parse_size(text: str) -> int:
    """A size as docker's --keep-storage reads it: a number and an optional unit, 1024-based."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"invalid size {text!r}: a number with an optional unit (B, KB, MB, GB, TB) is expected")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def human(n: int, space: str = "") -> str:
    """A size as docker prints one: three significant digits, 1000-based (244MB)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{n}{space}B" if unit == "B" else f"{value:.3g}{space}{unit}"
        value /= 1000
    return f"{n}{space}B"
