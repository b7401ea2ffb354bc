#!/usr/bin/env python3
"""The cross-compiling pattern for two platforms, distill beside BuildKit in the same run.

A builder `FROM --platform=$BUILDPLATFORM` (Debian with gcc-aarch64-linux-gnu) compiles a
static C program for $TARGETARCH; the final stage is busybox of each platform. distill
builds both platforms at once (`--platform linux/amd64,linux/arm64`, one index) and each
alone; docker 20.10's BuildKit (`DOCKER_BUILDKIT=1 docker build --platform P`, a dockerd of
the bench's own; Debian's docker.io has no buildx) builds one platform at a time, the
final stage's base retagged to that platform's busybox before each. Cold: --no-cache
(bases and their unpacked layers kept, as in bench/build.py); no-op: the same build again.

    .venv/bin/python bench/platforms.py [--runs 5]
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
sys.path.insert(0, str(REPO / "bench"))

from commands import DISTILL, DOCKER  # noqa: E402

PLATFORMS = ("linux/amd64", "linux/arm64")
ARM64_BUSYBOX = "localhost/busybox:arm64"


def timed(cmd, env=None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {r.stderr.decode()[-800:]}")
    return time.perf_counter() - t


def median(f, runs: int) -> float:
    return statistics.median(f() for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from bed.docker import Docker
    from bed.images import (CROSS_BASE, CROSS_DOCKERFILE, CROSS_HELLO_C, CROSS_PACKAGES, busybox_image, cached_base,
                            tag_index)
    from distill.build.runtime.binfmt import install
    from distill.image.store import Store

    install(["arm64"])
    work = Path(tempfile.mkdtemp(prefix="distill-bench-platforms-"))
    engine = None
    try:
        store = Store(work / "store")
        cached_base(store, CROSS_BASE, CROSS_PACKAGES)
        busybox_image(store, "localhost/busybox:amd64", work)
        busybox_image(store, ARM64_BUSYBOX, work, architecture="arm64")
        tag_index(store, "localhost/busybox:both", [
            ("localhost/busybox:amd64", {"os": "linux", "architecture": "amd64"}),
            (ARM64_BUSYBOX, {"os": "linux", "architecture": "arm64"})])
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "hello.c").write_text(CROSS_HELLO_C)
        (ctx / "Dockerfile").write_text(CROSS_DOCKERFILE)
        env = dict(os.environ, DISTILL_ROOT=str(store.root))
        both = [DISTILL, "build", "-q", "--platform", ",".join(PLATFORMS), str(ctx)]
        rows = {"two platforms, cold": {"distill": median(lambda: timed(both + ["--no-cache"], env), args.runs)},
                "two platforms, no-op": {"distill": median(lambda: timed(both, env), args.runs)}}
        for p in PLATFORMS:
            one = [DISTILL, "build", "-q", "--platform", p, str(ctx)]
            rows[f"{p}, cold"] = {"distill": median(lambda: timed(one + ["--no-cache"], env), args.runs)}
            rows[f"{p}, no-op"] = {"distill": median(lambda: timed(one, env), args.runs)}

        (work / "docker").mkdir()
        engine = Docker(work / "docker")
        for ref in (CROSS_BASE, "localhost/busybox:amd64", ARM64_BUSYBOX):
            archive = work / "base.tar"
            timed([DISTILL, "save", ref, "-o", str(archive), "--format", "docker"], env)
            engine.client("load", "-i", archive)
        denv = dict(os.environ, DOCKER_BUILDKIT="1")
        docker = [DOCKER, "-H", f"unix://{engine.sock}"]
        for p, busybox in zip(PLATFORMS, ("localhost/busybox:amd64", ARM64_BUSYBOX)):
            engine.client("tag", busybox, "localhost/busybox:both")
            one = docker + ["build", "-q", "--network", "host", "--platform", p, str(ctx)]
            rows[f"{p}, cold"]["buildkit"] = median(lambda: timed(one + ["--no-cache"], denv), args.runs)
            rows[f"{p}, no-op"]["buildkit"] = median(lambda: timed(one, denv), args.runs)
        for kind in ("cold", "no-op"):
            rows[f"two platforms, {kind}"]["buildkit"] = sum(rows[f"{p}, {kind}"]["buildkit"] for p in PLATFORMS)
            rows[f"two platforms, {kind}"]["distill, sum of one at a time"] = sum(
                rows[f"{p}, {kind}"]["distill"] for p in PLATFORMS)
    finally:
        if engine is not None:
            engine.stop()
        subprocess.run(["rm", "-rf", str(work)])
    print(f"{'scenario':<28}{'distill':>10}{'buildkit':>10}{'ratio':>8}   (medians of {args.runs})")
    for name, row in rows.items():
        ratio = row["distill"] / row["buildkit"] if row.get("buildkit") else float("nan")
        extra = f"   one at a time: {row['distill, sum of one at a time']:.2f}s" if "distill, sum of one at a time" \
            in row else ""
        print(f"{name:<28}{row['distill']:>9.2f}s{row.get('buildkit', float('nan')):>9.2f}s{ratio:>8.2f}{extra}")


if __name__ == "__main__":
    main()
