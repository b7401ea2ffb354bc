#!/usr/bin/env python3
"""imagefs figures on a large base (the Flask example's build base, bootstrapped from the
Debian archive: python3, build-essential, ...), beside the peers measured in the same run.

- table of contents, cold (no cached TOC), of the layer as distill stores it (plain tar)
  and of its gzip form (as a registry serves it); and the re-open from the cached TOC;
- `distill ls -R` of the whole image against `tar -t` of the same tar;
- unpacking the layer (what a RUN on it needs today) against GNU `tar -x` of the same tar.

    .venv/bin/python bench/imagefs.py [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
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
from distill.image.oci import mediatypes  # noqa: E402
from distill.image.store.images import lookup  # noqa: E402
from distill.image.imagefs import ImageFS  # noqa: E402
from distill.image.layers.toc import toc_path  # noqa: E402
from distill.image.store import Store  # noqa: E402

BASE = "localhost/debian/python-build:bookworm"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median(fn, runs: int, before=None) -> float:
    out = []
    for _ in range(runs):
        if before:
            before()
        out.append(timed(fn))
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distill-bench-imagefs-"))
    try:
        run(work, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, runs: int) -> None:
    store = Store(work / "store")
    cached_base(store, BASE, DEMO_BASES[BASE])
    img = lookup(store, BASE)
    (desc,), (diff_id,) = img.layers, img.diff_ids
    tar = store.blob_path(desc["digest"])
    size = os.path.getsize(tar)
    # the same layer gzip-compressed, as a second image
    gz_path = work / "layer.tar.gz"
    with open(tar, "rb") as src, gzip.open(gz_path, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    with open(gz_path, "rb") as f:
        gz_digest = store.ingest(f)
    gz_desc = {"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": gz_digest, "size": os.path.getsize(gz_path)}

    def drop_toc():
        try:
            os.unlink(toc_path(store, diff_id))
        except FileNotFoundError:
            pass

    toc_plain = median(lambda: ImageFS(store, [desc], [diff_id]), runs, drop_toc)
    toc_gzip = median(lambda: ImageFS(store, [gz_desc], [diff_id]), runs, drop_toc)
    fs = ImageFS(store, [desc], [diff_id])
    entries = fs.tree.count
    reopen = median(lambda: ImageFS(store, [desc], [diff_id]), max(runs, 10))
    env = dict(os.environ, DISTILL_ROOT=str(store.root))
    ls_r = median(lambda: subprocess.run([DISTILL, "ls", "-R", BASE], env=env, check=True, stdout=subprocess.DEVNULL),
                  runs)
    tar_t = median(lambda: subprocess.run(["tar", "-tf", tar], check=True, stdout=subprocess.DEVNULL), runs)
    tar_tz = median(lambda: subprocess.run(["tar", "-tzf", gz_path], check=True, stdout=subprocess.DEVNULL), runs)

    from distill.image.layers.unpack import snapshots_dir, unpacked

    def drop_snapshot():
        shutil.rmtree(snapshots_dir(store))

    unpack = median(lambda: unpacked(store, desc, diff_id), runs, drop_snapshot)
    dest = work / "tar-x"

    def fresh_dest():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()

    tar_x = median(lambda: subprocess.run(["tar", "-xf", tar, "-C", dest], check=True), runs, fresh_dest)

    print(f"{BASE}: one layer, {size / 1e6:.0f} MB tar ({gz_desc['size'] / 1e6:.0f} MB gzip), {entries} entries;"
          f" medians of {runs}")
    print(f"{'':<44}{'distill':>10}{'peer':>10}   peer")
    rows = [
        ("table of contents, plain tar (cold)", toc_plain, tar_t, "tar -t"),
        ("table of contents, gzip (cold)", toc_gzip, tar_tz, "tar -tz"),
        ("re-open from the cached TOC", reopen, None, ""),
        ("`distill ls -R` (a process, from the cache)", ls_r, tar_t, "tar -t"),
        ("unpack the layer", unpack, tar_x, "tar -x"),
    ]
    for label, ours, peer, name in rows:
        print(f"{label:<44}{ours * 1000:>8.0f}ms" + (f"{peer * 1000:>8.0f}ms   {name}" if peer else ""))


if __name__ == "__main__":
    main()
