"""Human forms of sizes and times, as docker prints them."""

from __future__ import annotations

import time
from datetime import datetime


def size(n: int) -> str:
    from distill.api import human_size

    return human_size(n)


def since(rfc3339: str) -> str:
    if not rfc3339:
        return "N/A"
    try:
        t = datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return rfc3339
    d = max(0, time.time() - t)
    for limit, unit, div in ((60, "second", 1), (3600, "minute", 60), (86400, "hour", 3600),
                             (86400 * 14, "day", 86400), (86400 * 60, "week", 86400 * 7),
                             (86400 * 730, "month", 86400 * 30)):
        if d < limit:
            v = int(d // div)
            return "Less than a second ago" if unit == "second" and v < 1 else f"{v} {unit}{'s' if v != 1 else ''} ago"
    return f"{int(d // (86400 * 365))} years ago"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, each cell printable (what came from an image
    escaped: a history's command, a tag)."""
    from distill.errors import printable

    rows = [[printable(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["   ".join(c.ljust(w) for c, w in zip(headers, widths)).rstrip()]
    lines += ["   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
