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


@pytest.fixture(scope="module")
def flask_inputs(tmp_path_factory, own_image):
    """The Flask example's context and its bases as archives, for a container to read."""
    inputs = tmp_path_factory.mktemp("in")
    example_context("flask", inputs / "flask")
    (inputs / "bases").mkdir()
    for name in DEMO_BASES:
        distill("save", name, "-o", inputs / "bases" / (name.replace("/", "_").replace(":", "_") + ".tar"),
                root=own_image.root)
    return inputs


@pytest.mark.parametrize("confinement", ["defaults", "unconfined"])
def test_in_a_container_the_flask_example_builds_pushes_and_answers(own_image, docker, registry, flask_inputs,
                                                                     tmp_path, confinement):
    """`docker run` of distill's image, no --privileged, no added capability. Under
    docker's defaults (no user namespaces, no mounts) RUN is chrooted, as Kaniko's; with
    the two options rootless BuildKit asks for, distill takes a user namespace of its
    own. Either way the Flask example builds, pushes to the machine's registry, and the
    image, pulled back, answers."""
    inputs = flask_inputs
    ref = f"{registry.host}/ci/flask:{confinement}"
    script = ("for b in /in/bases/*.tar; do distill load -i $b >/dev/null; done && "
              f"distill build --progress plain -t {ref} /in/flask && distill push {ref}")
    options = UNCONFINED if confinement == "unconfined" else ()
    r = docker.client("run", "--rm", "--network", "host", *options, "-v", f"{inputs}:/in:ro",
                      "--entrypoint", "sh", "distill:test", "-c", script, check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    said = r.stderr + r.stdout
    assert "(6 steps run, 0 cached)" in said
    isolation = next(line for line in said.splitlines() if line.startswith("isolation: "))
    if confinement == "unconfined":
        assert isolation.startswith("isolation: runc in a user namespace mapping every id of the container as itself")
        assert isolation.endswith("; RUN's default network: the container's")
    else:
        assert isolation.startswith("isolation: chroot (this container refuses namespaces)")

    pulled = tmp_path / "pulled"
    distill("pull", ref, root=pulled)
    port = free_port()
    cid = distill("run", "-d", "-p", f"{port}:5000", ref, root=pulled).stdout.strip()
    try:
        assert answer(f"http://127.0.0.1:{port}/") == "Hello, World!"
    finally:
        distill("stop", "-t", "1", cid, root=pulled)


def test_chrooted_steps_leave_only_their_own_changes_and_refuse_what_needs_namespaces(own_image, docker, tmp_path):
    """Under docker's defaults: what was placed for a chrooted RUN (device nodes, hosts,
    resolv.conf, the cache directory) is not in its layer, the cache keeps what the step
    wrote for the next build, and a RUN --network=none says in one line, with its
    Dockerfile line, that it cannot be honoured."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM localhost/debian/python:bookworm\n"
        "RUN --mount=type=cache,target=/cache echo kept >> /cache/log && cat /cache/log && ls /dev/null "
        "&& echo made > /made\n")
    (ctx / "Dockerfile.none").write_text("FROM localhost/debian/python:bookworm\nRUN --network=none true\n")
    distill("save", "localhost/debian/python:bookworm", "-o", tmp_path / "base.tar", root=own_image.root)
    script = ("distill load -i /in/base.tar >/dev/null && distill build --progress plain -t a /in/ctx && "
              "distill ls -R --json a / > /in/a.json && "
              "distill build --progress plain --no-cache -t a /in/ctx && "
              "distill build -f /in/ctx/Dockerfile.none /in/ctx")
    r = docker.client("run", "--rm", "-v", f"{tmp_path}:/in", "--entrypoint", "sh", "distill:test", "-c", script,
                      check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    rows = json.loads((tmp_path / "a.json").read_text())
    last = max(row["layer"] for row in rows if row["layer"] is not None)
    assert {row["path"] for row in rows if row["layer"] == last} == {"/made"}
    assert "kept\nkept" in "\n".join(line.split(" ", 2)[-1] for line in out.splitlines() if line.startswith("#1 "))
    assert out.strip().splitlines()[-1] == ("distill: error: /in/ctx/Dockerfile.none:2: RUN --network=none needs "
                                             "namespaces, which this container refuses (its RUN steps are chrooted)")
