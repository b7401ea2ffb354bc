#!/usr/bin/env python3
"""Pull and push throughput and peak memory against a loopback docker-registry.

Makes a 3-layer image of incompressible data (default 3 x 110 MB), pushes it, pulls it into
an empty store in a child process, and prints MB/s and the child's peak RSS. With skopeo
installed, the same pull by `skopeo copy` to an OCI directory is printed beside it.

    .venv/bin/python bench/pull_push.py [--layer-mb 110]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bed.registry import RegistryProcess  # noqa: E402
from distill.config import new_config  # noqa: E402
from distill import platform as platforms  # noqa: E402
from distill.image.store.images import write_image  # noqa: E402
from distill.image.layers.blob import write_layer  # noqa: E402
from distill.image.store import Store  # noqa: E402


def make_image(store: Store, work: Path, layer_mb: int) -> int:
    layers, diff_ids = [], []
    for i in range(3):
        tree = work / f"tree{i}"
        tree.mkdir()
        with open(tree / "blob.bin", "wb") as f:
            for _ in range(layer_mb):
                f.write(os.urandom(1 << 20))
        layer = write_layer(store, tree)
        layers.append(layer.descriptor)
        diff_ids.append(layer.diff_id)
    desc = write_image(store, new_config(platforms.host(), diff_ids, "bench"), layers)
    store.set_tag("localhost/bench/big:1", desc)
    return sum(l["size"] for l in layers)


def child(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall time and peak RSS (kB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layer-mb", type=int, default=110)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        work = Path(tmp)
        reg = RegistryProcess(work / "registry")
        try:
            src = Store(work / "src")
            total = make_image(src, work, args.layer_mb)
            mb = total / 1e6
            dest = f"{reg.host}/bench/big:1"
            distill = [sys.executable, "-m", "distill"]
            env = dict(os.environ, DISTILL_ROOT=str(src.root))
            t_push, rss_push = child(distill + ["push", "localhost/bench/big:1", dest], env)
            env = dict(os.environ, DISTILL_ROOT=str(work / "dst"))
            t_pull, _ = child(distill + ["pull", dest], env)
            # ru_maxrss of children is a running max: measure the pull alone in a fresh child
            probe = subprocess.run(
                [sys.executable, "-c",
                 "import resource,subprocess,sys; subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);"
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                 *distill, "pull", dest],
                env=dict(os.environ, DISTILL_ROOT=str(work / "dst2")), capture_output=True, text=True, check=True)
            rss_pull = int(probe.stdout.strip())
            print(f"image: 3 layers, {mb:.0f} MB compressed")
            print(f"distill push: {t_push:.2f} s, {mb / t_push:.0f} MB/s")
            print(f"distill pull: {t_pull:.2f} s, {mb / t_pull:.0f} MB/s, peak RSS {rss_pull / 1024:.0f} MB")
            if subprocess.run(["which", "skopeo"], capture_output=True).returncode == 0:
                t_sk, _ = child(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{dest}",
                                 f"oci:{work / 'skopeo-oci'}:x"])
                print(f"skopeo copy (pull peer): {t_sk:.2f} s, {mb / t_sk:.0f} MB/s; distill/skopeo time ratio "
                      f"{t_pull / t_sk:.2f}")
            print(f"peak RSS under 150 MB: {'yes' if rss_pull < 150 * 1024 else 'NO'}")
        finally:
            reg.stop()


if __name__ == "__main__":
    main()
