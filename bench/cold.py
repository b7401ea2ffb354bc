#!/usr/bin/env python3
"""The Flask example, and the seed guide's shape of it (bench/shapes.py), from nothing:
distill with an empty store and BuildKit with an empty build cache, both pulling the two
Debian bases from a loopback registry (Debian's docker-registry), runs interleaved. What
a fresh CI machine pays.

    .venv/bin/python bench/cold.py [--runs 3] [--tmpfs] [--shapes flask,seed]

BuildKit is docker's (`/usr/bin/docker` and `dockerd`, DOCKER_BUILDKIT=1, `apt-get install
docker.io`). Each BuildKit run gets a dockerd of its own with a new, empty data root (its
own socket, no bridge), started and stopped outside the timing; each distill run a new,
empty store. Nothing is deleted until all runs are done: on this disk (mounted with
`discard`) the deletes of a previous run's 1.5 GB slow the writes that follow them for
tens of seconds, whichever tool made them, and interleaved runs would pay for each other's.
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
from commands import DISTILL, DOCKER, DOCKERD  # noqa: E402

from bed.images import DEMO_BASES, cached_base, example_context  # noqa: E402
from bed.registry import RegistryProcess  # noqa: E402
from distill import api  # noqa: E402
from distill.image.store import Store  # noqa: E402



def quiet(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def timed(cmd, **kw) -> float:
    t = time.perf_counter()
    r = quiet(cmd, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.decode()[-600:]}")
    return time.perf_counter() - t


class Dockerd:
    """A dockerd of its own: an empty BuildKit cache without deleting anything."""

    def __init__(self, root: Path):
        self.root = root
        self.sock = f"unix://{root}/d.sock"
        root.mkdir(parents=True)
        self.proc = subprocess.Popen([DOCKERD, "--data-root", str(root / "data"), "--exec-root", str(root / "x"),
                                      "--pidfile", str(root / "d.pid"), "-H", self.sock, "--bridge=none",
                                      "--iptables=false", "--ip-masq=false"],
                                     stdout=subprocess.DEVNULL, stderr=open(root / "log", "wb"))
        for _ in range(300):
            if quiet([DOCKER, "-H", self.sock, "info"]).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"dockerd did not start: {(root / 'log').read_text()[-600:]}")

    def warm(self, work: Path) -> None:
        """A first build of nothing the timed one uses: BuildKit starts its worker on the
        first build a daemon gets, and a daemon that has built before is what a user has."""
        ctx = work / "warm"
        ctx.mkdir(exist_ok=True)
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
        timed([DOCKER, "-H", self.sock, "build", "-q", "-t", "warm", ctx], env=dict(os.environ, DOCKER_BUILDKIT="1"))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shapes", default="flask,seed", help="the project's Flask example, bench/shapes.py's")
    ap.add_argument("--tmpfs", action="store_true",
                    help="Everything (stores, docker's data roots, the registry) in memory: no disk in the figures.")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bc-", dir="/var/tmp"))  # short: dockerd's socket paths
    if args.tmpfs:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20g", "tmpfs", str(work)], check=True)
    registry = RegistryProcess(work / "registry")
    try:
        run(work, registry, args.runs, args.tmpfs, args.shapes.split(","))
    finally:
        registry.stop()
        if args.tmpfs:
            subprocess.run(["umount", str(work)], check=True)
        shutil.rmtree(work, ignore_errors=True)


def settle() -> None:
    """Let the disk write back what the run before left, so no run pays for another's."""
    os.sync()
    time.sleep(2)
    os.sync()


def bases_in(registry, work: Path) -> list[str]:
    """The demo's two Debian bases pushed to `registry`; the build arguments naming them."""
    seed = Store(work / "seed")
    build_args = []
    for name, packages in DEMO_BASES.items():
        cached_base(seed, name, packages)
        remote = f"{registry.host}/{name.split('/', 1)[1]}"
        api.push(seed, name, remote)
        build_args += ["--build-arg", f"{'BUILD' if 'build' in name else 'RUN'}_BASE={remote}"]
    return build_args


def run(work: Path, registry, runs: int, in_memory: bool, shapes: list[str]) -> None:
    build_args = bases_in(registry, work)
    flask = example_context("flask", work / "flask")
    buildkit = os.path.exists(DOCKERD)
    for shape in shapes:
        if shape == "flask":
            ctx = flask
        else:
            from shapes import make

            ctx = work / f"shape-{shape}"
            make(shape, ctx, flask)
        ours, theirs = [], []
        for i in range(runs):
            settle()
            store = work / f"store-{shape}-{i}"
            ours.append(timed([DISTILL, "--root", store, "build", "-q", "-t", "cold:1", *build_args, ctx]))
            if buildkit:
                dockerd = Dockerd(work / f"docker-{shape}-{i}")
                try:
                    dockerd.warm(work)
                    settle()
                    theirs.append(timed([DOCKER, "-H", dockerd.sock, "build", "-q", "--network", "host", "-t",
                                         "cold:1", *build_args, ctx], env=dict(os.environ, DOCKER_BUILDKIT="1")))
                finally:
                    dockerd.stop()
            if in_memory:  # deleting from memory slows nothing after it, and memory is short
                shutil.rmtree(store)
                shutil.rmtree(work / f"docker-{shape}-{i}", ignore_errors=True)
            print(f"{shape} run {i + 1}: distill {ours[-1]:.2f} s" + (f", BuildKit {theirs[-1]:.2f} s" if theirs else ""),
                  flush=True)
        mine = statistics.median(ours)
        line = f"{shape} from an empty store, bases from a loopback registry: distill {mine:.2f} s"
        if theirs:
            peer = statistics.median(theirs)
            line += f", BuildKit {peer:.2f} s (empty cache), ratio {mine / peer:.2f}"
        print(f"{line}; medians of {runs}", flush=True)


if __name__ == "__main__":
    main()
