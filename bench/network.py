#!/usr/bin/env python3
"""What the sandbox's network costs a RUN step: a build of N trivial RUN steps (--no-cache,
a busybox base, one stage) with each --network: `host` (the machine's, no namespace),
`none` (a namespace with only lo) and `default` (a private namespace with a veth on the
machine's bridge, from the build's pool). Prints the median build time and the cost per
RUN step over `host` and over `none`.

    .venv/bin/python bench/network.py [--steps 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from commands import DISTILL  # noqa: E402

from bed.images import busybox_image  # noqa: E402
from distill.image.store import Store  # noqa: E402

MODES = ("host", "none", "default")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="distill-bench-network-") as work:
        root = Path(work) / "store"
        busybox_image(Store(root), "localhost/busybox:bench", Path(work))
        dockerfile = Path(work) / "Dockerfile"
        dockerfile.write_text("FROM localhost/busybox:bench\n"
                              + "".join(f"RUN echo {i} > /f{i}\n" for i in range(args.steps)))
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.runs):
            for mode in MODES:  # interleaved, so drift on the machine hits each alike
                start = time.perf_counter()
                subprocess.run([DISTILL, "--root", str(root), "build", "-q", "--no-cache", "--network", mode,
                                "-f", str(dockerfile), work], check=True, capture_output=True)
                times[mode].append(time.perf_counter() - start)
    host, none = statistics.median(times["host"]), statistics.median(times["none"])
    print(f"{args.steps} RUN steps, --no-cache, median of {args.runs} builds")
    print(f"{'--network':<12}{'build':>10}{'per RUN over host':>20}{'over none':>12}")
    for mode in MODES:
        t = statistics.median(times[mode])
        print(f"{mode:<12}{t:>9.2f}s{(t - host) / args.steps * 1000:>17.1f} ms"
              f"{(t - none) / args.steps * 1000:>9.1f} ms")


if __name__ == "__main__":
    main()
