#!/usr/bin/env python3
"""`distill check` time: the Flask example's image and the Debian python base it runs on,
cold (no cached tables of contents) and warm (cached). The goal: under 1 s warm. No peer
answers this question (dive, syft, trivy do not check start-up), so there is none beside.

    .venv/bin/python bench/check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from commands import DISTILL  # noqa: E402

from bed.images import DEMO_BASES, cached_base  # noqa: E402
from distill.image.store import Store  # noqa: E402



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distill-bench-check-"))
    try:
        store = Store(work / "store")
        for name, packages in DEMO_BASES.items():
            cached_base(store, name, packages)
        ctx = work / "flask"
        shutil.copytree(REPO / "examples" / "flask", ctx, ignore=shutil.ignore_patterns("wheels", "__pycache__"))
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--platform",
                        "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                        "-d", str(ctx / "wheels"), "-r", str(ctx / "requirements.txt")], check=True)
        env = dict(os.environ, DISTILL_ROOT=str(store.root))
        subprocess.run([DISTILL, "build", "-q", "-t", "flask:check", str(ctx)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"distill check, medians of {args.runs}")
        for ref in ("flask:check", "localhost/debian/python:bookworm"):
            def check():
                t = time.perf_counter()
                subprocess.run([DISTILL, "check", ref], env=env, stdout=subprocess.DEVNULL)
                return time.perf_counter() - t

            cold = []
            for _ in range(args.runs):
                shutil.rmtree(os.path.join(store.root, "toc"), ignore_errors=True)
                cold.append(check())
            warm = [check() for _ in range(args.runs)]
            print(f"  {ref:<36} cold {statistics.median(cold):.2f} s   warm {statistics.median(warm):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
