"""distill's own image, built by distill from the Dockerfile at the repository's root
(scripts/image.sh): it will start, says check, and it does."""

import json
import os
import subprocess
from pathlib import Path

from bed.images import DEMO_BASES, cached_base
from clirun import distill
from distill.image.store import Store

REPO = Path(__file__).resolve().parents[2]


def test_distill_builds_its_own_image_and_the_image_runs(tmp_path):
    store = Store(tmp_path / "store")
    build_base = "localhost/debian/python-build:bookworm"
    cached_base(store, build_base, DEMO_BASES[build_base])
    packages = (REPO / "scripts" / "image-packages.txt").read_text().split()
    cached_base(store, "localhost/debian/distill-run:bookworm", packages)
    env = dict(os.environ, DISTILL_ROOT=str(store.root))
    r = subprocess.run(["bash", "scripts/image.sh", "distill:test"], cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    check = json.loads(distill("check", "--format", "json", "distill:test", root=store.root).stdout)
    assert check["verdict"] == "ok", check
    ran = distill("run", "--rm", "--network", "none", "distill:test", "--version", root=store.root)
    assert ran.stdout.strip() == "distill 0.1.0"
    ran = distill("run", "--rm", "--network", "none", "distill:test", "lint", "--help", root=store.root)
    assert ran.stdout.startswith("usage: distill lint")
    # only the environment came over from the builder: no compiler, no pip cache in the image
    listing = json.loads(distill("ls", "--json", "distill:test", "/usr/bin", root=store.root).stdout)
    assert not {"gcc", "cc", "pip3"} & {Path(r["path"]).name for r in listing}
