#!/usr/bin/env python3
"""The Flask example from nothing: distill with an empty store and BuildKit with an empty
build cache, both pulling the two Debian bases from a loopback registry (Debian's
docker-registry), runs interleaved. What a fresh CI machine pays.

    .venv/bin/python bench/cold.py [--runs 3]

BuildKit is docker's (`/usr/bin/docker`, DOCKER_BUILDKIT=1, `apt-get install docker.io`
and a running dockerd). Before each of its runs, `docker builder prune -af` empties its
cache, and every docker image holding a layer of the two bases is removed (docker keeps
pulled and loaded layers unpacked in its own store, where BuildKit finds them: a build
would otherwise pull nothing and unpack nothing).
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

from bed.images import DEMO_BASES, cached_base  # noqa: E402
from bed.registry import RegistryProcess  # noqa: E402
from distill import api  # noqa: E402
from distill.store import Store  # noqa: E402

_SCRIPT = Path(sys.executable).parent / "distill"
DISTILL = str(_SCRIPT) if _SCRIPT.exists() else "distill"
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"


def quiet(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def timed(cmd, **kw) -> float:
    t = time.perf_counter()
    r = quiet(cmd, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.decode()[-600:]}")
    return time.perf_counter() - t


def forget_bases(diff_ids: set[str]) -> None:
    """Empties BuildKit's cache and removes the docker images that hold these layers."""
    quiet([DOCKER, "builder", "prune", "-af"])
    ids = subprocess.run([DOCKER, "images", "-aq", "--no-trunc"], capture_output=True, text=True).stdout.split()
    doomed = []
    for image in dict.fromkeys(ids):
        layers = subprocess.run([DOCKER, "image", "inspect", "--format", "{{json .RootFS.Layers}}", image],
                                capture_output=True, text=True).stdout
        if any(d in layers for d in diff_ids):
            doomed.append(image)
    if doomed:
        quiet([DOCKER, "rmi", "-f", *doomed])
    quiet([DOCKER, "builder", "prune", "-af"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distill-bench-cold-"))
    registry = RegistryProcess(work / "registry")
    try:
        run(work, registry, args.runs)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, registry, runs: int) -> None:
    seed = Store(work / "seed")
    build_args, base_layers = [], set()
    for name, packages in DEMO_BASES.items():
        cached_base(seed, name, packages)
        base_layers.update(api.inspect(seed, name)["Config"]["rootfs"]["diff_ids"])
        remote = f"{registry.host}/{name.split('/', 1)[1]}"
        api.push(seed, name, remote)
        build_args += ["--build-arg", f"{'BUILD' if 'build' in name else 'RUN'}_BASE={remote}"]
    ctx = work / "flask"
    shutil.copytree(REPO / "examples" / "flask", ctx, ignore=shutil.ignore_patterns("wheels", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--platform",
                    "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                    "-d", str(ctx / "wheels"), "-r", str(ctx / "requirements.txt")], check=True)
    buildkit = quiet([DOCKER, "info"]).returncode == 0
    ours, theirs = [], []
    for i in range(runs):
        root = work / f"store-{i}"
        ours.append(timed([DISTILL, "--root", root, "build", "-q", "-t", "flask:cold", *build_args, ctx]))
        shutil.rmtree(root)
        if buildkit:
            forget_bases(base_layers)
            theirs.append(timed([DOCKER, "build", "-q", "-t", "flask:cold", *build_args, ctx],
                                env=dict(os.environ, DOCKER_BUILDKIT="1")))
        print(f"run {i + 1}: distill {ours[-1]:.2f} s" + (f", BuildKit {theirs[-1]:.2f} s" if theirs else ""),
              flush=True)
    mine = statistics.median(ours)
    line = f"Flask from an empty store, bases from a loopback registry: distill {mine:.2f} s"
    if theirs:
        peer = statistics.median(theirs)
        line += f", BuildKit {peer:.2f} s (empty cache), ratio {mine / peer:.2f}"
    print(f"{line}; medians of {runs}")


if __name__ == "__main__":
    main()
