"""The tests' small C programs (bed/*.c), built static so that they run in any image."""

from __future__ import annotations

import subprocess
from pathlib import Path

BED = Path(__file__).parent


def static_program(name: str, dest: Path) -> Path:
    """bed/NAME.c built as dest/NAME (gcc -static; gcc and libc6-dev come with the setup)."""
    out = dest / name
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(BED / f"{name}.c")], check=True)
    return out
