#!/usr/bin/env python3
"""A second machine building the Flask example from a cache the first shared through a
loopback registry (Debian's docker-registry), against the same machine building cold.

Machine A builds once and shares its cache; each run then gives machine B a new, empty
store (distill) or a new dockerd with an empty data root (BuildKit), both pulling the
bases from the registry:

    cold          B builds with no cache
    registry max  distill --cache-from the artifact A wrote with --cache-to type=registry,mode=max
    registry min  the same with mode=min (only the image's layers shipped)
    inline        the image A pushed with its cache inline (distill --cache-to type=inline;
                  BuildKit BUILDKIT_INLINE_CACHE=1), B --cache-from that image

docker's own BuildKit (docker.io's dockerd, no buildx) exports only inline caches, so the
registry-artifact row has no BuildKit figure.

    .venv/bin/python bench/shared_cache.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from cold import DISTILL, DOCKER, DOCKERD, Dockerd, bases_in, settle, timed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bed.images import example_context  # noqa: E402
from bed.registry import RegistryProcess  # noqa: E402

BUILDKIT = dict(os.environ, DOCKER_BUILDKIT="1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bsc-", dir="/var/tmp"))  # short: dockerd's socket paths
    registry = RegistryProcess(work / "registry")
    try:
        run(work, registry, args.runs)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, registry, runs: int) -> None:
    build_args = bases_in(registry, work)
    ctx = example_context("flask", work / "flask")
    artifact, minimal = f"{registry.host}/cache/flask:max", f"{registry.host}/cache/flask:min"
    ours_inline, theirs_inline = f"{registry.host}/distill/flask:inline", f"{registry.host}/buildkit/flask:inline"

    def distill(name: str, *extra) -> float:
        return timed([DISTILL, "--root", work / name, "build", "-q", *build_args, *extra, ctx])

    distill("A", "--cache-to", f"type=registry,ref={artifact},mode=max", "--cache-to", f"type=registry,ref={minimal}")
    distill("A-inline", "--cache-to", "type=inline", "-t", ours_inline, "-o", "type=registry")
    buildkit = os.path.exists(DOCKERD)
    if buildkit:
        dockerd = Dockerd(work / "docker-A")
        try:
            timed([DOCKER, "-H", dockerd.sock, "build", "-q", "--network", "host", "--build-arg",
                   "BUILDKIT_INLINE_CACHE=1", "-t", theirs_inline, *build_args, ctx], env=BUILDKIT)
            timed([DOCKER, "-H", dockerd.sock, "push", theirs_inline])
        finally:
            dockerd.stop()

    def buildkit_b(i: int, row: str, *extra) -> float:
        dockerd = Dockerd(work / f"docker-{row}-{i}")
        try:
            dockerd.warm(work)
            settle()
            return timed([DOCKER, "-H", dockerd.sock, "build", "-q", "--network", "host", *extra, "-t", "flask:b",
                          *build_args, ctx], env=BUILDKIT)
        finally:
            dockerd.stop()

    rows: dict[str, tuple[list[float], list[float]]] = {"cold": ([], []), "registry max": ([], []),
                                                        "registry min": ([], []), "inline": ([], [])}
    for i in range(runs):
        for row, extra in (("cold", ()), ("registry max", ("--cache-from", artifact)),
                           ("registry min", ("--cache-from", minimal)), ("inline", ("--cache-from", ours_inline))):
            settle()
            rows[row][0].append(distill(f"B-{row.replace(' ', '-')}-{i}", *extra))
        if buildkit:
            rows["cold"][1].append(buildkit_b(i, "cold"))
            rows["inline"][1].append(buildkit_b(i, "inline", "--cache-from", theirs_inline))
        print(f"run {i + 1}: " + ", ".join(f"{row} {ours[-1]:.2f}" + (f"/{theirs[-1]:.2f}" if theirs else "")
                                          for row, (ours, theirs) in rows.items()), flush=True)
    print(f"machine B, the Flask example, medians of {runs} (s)")
    print(f"{'':<16}{'distill':>10}{'BuildKit':>10}")
    for row, (ours, theirs) in rows.items():
        peer = f"{statistics.median(theirs):10.2f}" if theirs else f"{'—':>10}"
        print(f"{row:<16}{statistics.median(ours):10.2f}{peer}")


if __name__ == "__main__":
    main()
