#!/usr/bin/env python3
"""Parse throughput on a generated 10,000-instruction Dockerfile (target ≥ 100,000 lines/s).

    .venv/bin/python bench/parse.py [--instructions 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from distill.build.dockerfile.parser import parse
from distill.build.plan import make_plan


def generate(n: int) -> str:
    parts = ["# syntax=docker/dockerfile:1\n", "ARG BASE=debian:bookworm\n", "FROM $BASE AS build\n", "RUN make\n", "FROM build AS s0\n"]
    shapes = [
        "RUN apt-get update && \\\n    apt-get install -y --no-install-recommends gcc make \\\n    && rm -rf /var/lib/apt/lists/*\n",
        "ENV PATH=/opt/app/bin:$PATH LANG=C.UTF-8\n",
        "COPY --chown=app:app src/ /opt/app/src/\n",
        "RUN --mount=type=cache,target=/root/.cache pip install -r requirements.txt\n",
        'CMD ["python", "-m", "app"]\n',
        "# a comment between steps\nWORKDIR /opt/app/$BASE\n",
        "LABEL org.opencontainers.image.source=\"https://example.invalid/app\" version=1\n",
        "COPY --from=build /opt/app /opt/app\n",
    ]
    count = 3
    i = 0
    while count < n:
        if i and i % 500 == 0:
            parts.append(f"FROM build AS s{i}\n")
        else:
            parts.append(shapes[i % len(shapes)])
        i += 1
        count += 1
    return "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instructions", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    text = generate(args.instructions)
    lines = text.count("\n")
    parse_times, plan_times = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = parse(text)
        parse_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        make_plan(result)
        plan_times.append(time.perf_counter() - t)
    p, q = statistics.median(parse_times), statistics.median(plan_times)
    print(f"{len(result.nodes)} instructions, {lines} lines")
    print(f"parse: {p * 1000:.1f} ms median, {lines / p:,.0f} lines/s (target >= 100,000)")
    print(f"parse + plan: {(p + q) * 1000:.1f} ms median, {lines / (p + q):,.0f} lines/s")


if __name__ == "__main__":
    main()
