#!/usr/bin/env python3
"""`distill db import` and `distill scan` at the size of a full Debian + PyPI OSV import.
OSV's bucket is not reachable from here, so the records are generated, in OSV's format,
at the size of OSV's Debian and PyPI exports (--records, default 80,000): most name
packages the image does not hold, and a share name the ones it does (each with a range
and a version list), so the scan does the work a real database makes it do. Prints the
import time and the scan's, cold (first scan) and warm.

    .venv/bin/python bench/scan.py [--records 80000] [--runs 5]   (after scripts/demo.sh)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

from commands import DISTILL  # noqa: E402

IMAGE = "flask-demo:multi"


def generated(path: Path, count: int, packages: list[tuple[str, str, str]]) -> None:
    """`count` OSV records in one zip: a tenth about the image's own (ecosystem, name,
    version), the rest about other names."""
    rnd = random.Random(1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(count):
            if i % 10 == 0 and packages:
                eco, name, version = rnd.choice(packages)
            else:
                eco, name, version = rnd.choice(["Debian:12", "Debian:11", "PyPI"]), f"pkg{rnd.randrange(40000)}", "1.0"
            fixed = version + ("+x1" if eco.startswith("Debian") else ".post1") if rnd.random() < 0.5 else "0.1"
            doc = {"id": f"GEN-{i:06d}", "modified": "2026-01-01T00:00:00Z", "summary": "generated",
                   "affected": [{"package": {"ecosystem": eco, "name": name},
                                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                                 "versions": [f"0.{n}" for n in range(rnd.randrange(1, 30))]}],
                   "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}
            z.writestr(f"GEN-{i:06d}.json", json.dumps(doc))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=80_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--root", default=os.environ.get("DISTILL_ROOT", "/var/lib/distill"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distill-bench-scan-"))
    try:
        store = work / "store"
        subprocess.run([DISTILL, "--root", args.root, "save", IMAGE, "-o", str(work / "image.tar")], check=True,
                       capture_output=True)
        doc = json.loads(subprocess.run([DISTILL, "--root", args.root, "sbom", "--format", "json", IMAGE],
                                        check=True, capture_output=True, text=True).stdout)
        own = [("Debian:12", c["source"], c["source_version"]) if c["type"] == "dpkg" else ("PyPI", c["name"], c["version"])
               for c in doc["components"] if c["type"] in ("dpkg", "python")]
        generated(work / "all.zip", args.records, own)
        start = time.perf_counter()
        subprocess.run([DISTILL, "--root", str(store), "db", "import", str(work / "all.zip")], check=True,
                       capture_output=True)
        imported = time.perf_counter() - start
        size = os.path.getsize(store / "vulndb" / "osv.sqlite")
        times, found = [], 0
        for _ in range(args.runs):
            start = time.perf_counter()
            r = subprocess.run([DISTILL, "--root", str(store), "scan", "--format", "json", str(work / "image.tar")],
                               check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            found = len(json.loads(r.stdout)["findings"])
        print(f"{args.records} generated OSV records ({(work / 'all.zip').stat().st_size / 1e6:.0f} MB zip): import "
              f"{imported:.1f} s, database {size / 1e6:.0f} MB")
        print(f"scan of {IMAGE} ({len(doc['components'])} packages, archive in place): first {times[0]:.2f} s, "
              f"median {statistics.median(times):.2f} s, {found} findings")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
