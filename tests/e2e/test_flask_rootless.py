"""The seed's Flask example built by a user other than root: the image root builds (same
ID, with SOURCE_DATE_EPOCH), served by `distill run -p` as that user, and read by the
analysers in the user's own store."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bed.images import DEMO_BASES, cached_base, example_context
from bed.net import free_port
from bed.users import distill_as, ensure_user, reachable_by_all, served_by
from clirun import distill
from distill.image.store import Store

EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Root's store with the demo's bases, and a directory every user reads: the bases as
    archives and the example's context."""
    import sys

    reachable_by_all(Path(sys.executable).parent)
    reachable_by_all(Path(__file__).resolve().parent)
    root = tmp_path_factory.mktemp("root-store")
    store = Store(root / "store")
    for name, packages in DEMO_BASES.items():
        cached_base(store, name, packages)
    work = Path(tempfile.mkdtemp(prefix="distill-flask-rootless-", dir="/tmp"))
    ctx = example_context("flask", work / "flask")
    for name in DEMO_BASES:
        distill("save", name, "-o", work / (name.replace("/", "_").replace(":", "_") + ".tar"), root=store.root)
    subprocess.run(["chmod", "-R", "a+rX", str(work)], check=True)
    yield store.root, work, ctx
    shutil.rmtree(work, ignore_errors=True)


def test_a_user_builds_serves_and_reads_the_flask_example(shared):
    root, work, ctx = shared
    user = ensure_user("distill-flask", subordinate=True)
    shutil.rmtree(Path(user.pw_dir) / ".local/share/distill", ignore_errors=True)
    for archive in sorted(work.glob("*.tar")):
        distill_as(user, "load", "-i", archive)
    distill_as(user, "build", "-t", "flask-demo:multi", ctx, env=EPOCH)
    distill("build", "-t", "flask-demo:multi", ctx, root=root, env=EPOCH)
    assert json.loads(distill_as(user, "inspect", "flask-demo:multi").stdout)["Id"] == \
        json.loads(distill("inspect", "flask-demo:multi", root=root).stdout)["Id"]

    port = free_port()
    assert served_by(user, port, f"{port}:5000", "flask-demo:multi") == "Hello, World!"

    assert json.loads(distill_as(user, "check", "--format", "json", "flask-demo:multi").stdout)["verdict"] == "ok"
    sbom = json.loads(distill_as(user, "sbom", "--format", "json", "flask-demo:multi").stdout)
    assert "flask" in {c["name"].lower() for c in sbom["components"]}
    size = json.loads(distill_as(user, "size", "--format", "json", "flask-demo:multi").stdout)
    assert size["size"] == json.loads(distill("size", "--format", "json", "flask-demo:multi", root=root).stdout)["size"]
