"""distill's own image, built by distill from the Dockerfile at the repository's root
(scripts/image.sh): it will start, says check, and it does; under docker (Debian's
docker.io, an engine of the test's own) it builds the Flask example, pushes it to a
registry on the machine, and the image answers."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from bed.docker import UNCONFINED
from bed.images import DEMO_BASES, cached_base, example_context
from bed.net import answer, free_port
from clirun import distill
from distill.image.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_image(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("own-image") / "store")
    for name, packages in DEMO_BASES.items():
        cached_base(store, name, packages)
    packages = (REPO / "scripts" / "image-packages.txt").read_text().split()
    cached_base(store, "localhost/debian/distill-run:bookworm", packages)
    env = dict(os.environ, DISTILL_ROOT=str(store.root))
    r = subprocess.run(["bash", "scripts/image.sh", "distill:test"], cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return store


def test_distill_builds_its_own_image_and_the_image_runs(own_image):
    root = own_image.root
    check = json.loads(distill("check", "--format", "json", "distill:test", root=root).stdout)
    assert check["verdict"] == "ok", check
    ran = distill("run", "--rm", "--network", "none", "distill:test", "--version", root=root)
    assert ran.stdout.strip() == "distill 0.1.0"
    ran = distill("run", "--rm", "--network", "none", "distill:test", "lint", "--help", root=root)
    assert ran.stdout.startswith("usage: distill lint")
    # only the environment came over from the builder: no compiler, no pip in the image
    listing = json.loads(distill("ls", "--json", "distill:test", "/usr/bin", root=root).stdout)
    assert not {"gcc", "cc", "pip3"} & {Path(r["path"]).name for r in listing}


@pytest.fixture(scope="module")
def docker(tmp_path_factory, own_image):
    """An engine of the test's own, holding distill's image."""
    from bed.docker import Docker

    engine = Docker(tmp_path_factory.mktemp("docker"))
    archive = engine.work / "distill.tar"
    distill("save", "distill:test", "-o", archive, "--format", "docker", root=own_image.root)
    engine.client("load", "-i", archive)
    yield engine
    engine.stop()


def test_in_a_container_the_flask_example_builds_pushes_and_answers(own_image, docker, registry, tmp_path):
    """`docker run` of distill's image with the two options rootless BuildKit asks for
    (no --privileged, no added capability): distill takes a user namespace of its own,
    binds the container's masked /proc and /sys into its RUN steps and gives them the
    container's network. Under docker's defaults alone the analysers work and a build
    says, in one line, what it needs."""
    inputs = tmp_path / "in"
    example_context("flask", inputs / "flask")
    (inputs / "bases").mkdir()
    for name in DEMO_BASES:
        distill("save", name, "-o", inputs / "bases" / (name.replace("/", "_").replace(":", "_") + ".tar"),
                root=own_image.root)
    ref = f"{registry.host}/ci/flask:1"
    script = ("for b in /in/bases/*.tar; do distill load -i $b >/dev/null; done && "
              f"distill build --progress plain -t {ref} /in/flask && distill push {ref}")
    r = docker.client("run", "--rm", "--network", "host", *UNCONFINED, "-v", f"{inputs}:/in:ro",
                      "--entrypoint", "sh", "distill:test", "-c", script, check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    said = r.stderr + r.stdout
    assert "(6 steps run, 0 cached)" in said
    isolation = next(line for line in said.splitlines() if line.startswith("isolation: "))
    assert isolation.startswith("isolation: runc in a user namespace mapping every id of the container as itself")
    assert isolation.endswith("; RUN's default network: the container's")

    pulled = tmp_path / "pulled"
    distill("pull", ref, root=pulled)
    port = free_port()
    cid = distill("run", "-d", "-p", f"{port}:5000", ref, root=pulled).stdout.strip()
    try:
        assert answer(f"http://127.0.0.1:{port}/") == "Hello, World!"
    finally:
        distill("stop", "-t", "1", cid, root=pulled)

    # docker's defaults alone: reading works, a build says what it needs
    script = "distill load -i /in/bases/localhost_debian_python_bookworm.tar >/dev/null && " \
             "distill check localhost/debian/python:bookworm && distill build /in/flask"
    r = docker.client("run", "--rm", "-v", f"{inputs}:/in:ro", "--entrypoint", "sh", "distill:test", "-c", script,
                      check=False)
    assert r.returncode == 1 and "will start" in r.stdout
    assert r.stderr.strip().splitlines()[-1].startswith("distill: error: cannot make a user namespace")

