"""Which process made a temporary entry, and whether it still runs: a build or run killed
with SIGKILL cannot clean up after itself, so the next one (or prune) does, for the
entries whose maker is gone. A maker is its PID and the time it started (from
/proc/PID/stat), so a reused PID is not taken for it."""

from __future__ import annotations

import os
import re

_TOKEN = re.compile(r"(\d+)\.(\d+)-[0-9a-f]{12}$")
_mine: str | None = None


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from its end
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def token() -> str:
    """This process as a maker: PID.STARTTIME."""
    global _mine
    if _mine is None or not _mine.startswith(f"{os.getpid()}."):  # a fork is another maker
        _mine = f"{os.getpid()}.{_start_time(os.getpid()) or 0}"
    return _mine


def maker(name: str) -> str | None:
    """The maker of a temporary entry named by temp_dir/temp_file, None for another name."""
    m = _TOKEN.search(name)
    return f"{m[1]}.{m[2]}" if m else None


def alive(maker_token: str) -> bool:
    pid, _, start = maker_token.partition(".")
    return pid.isdigit() and _start_time(int(pid)) == start
