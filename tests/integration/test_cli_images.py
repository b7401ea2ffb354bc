"""The image commands end to end through the CLI, with skopeo as an independent reader."""

import json
import subprocess
from pathlib import Path

import pytest

from clirun import distill
from bed.images import copy_image
from test_registry import skopeo_inspect

SRC = "localhost/busybox:test"


@pytest.fixture
def root(tmp_path, busybox_store):
    from distill.image.store import Store

    s = Store(tmp_path / "store")
    copy_image(busybox_store, s, SRC)
    return Path(s.root)


def manifest_digest(root, ref):
    return json.loads(distill("inspect", ref, root=root).stdout)["Digest"]


@pytest.mark.parametrize("fmt, transport", [("docker", "docker-archive"), ("oci", "oci-archive")])
def test_save_read_by_skopeo_and_loaded_back(root, tmp_path, fmt, transport):
    out = tmp_path / f"image-{fmt}.tar"
    distill("save", SRC, "-o", out, "--format", fmt, root=root)
    info = skopeo_inspect(f"{transport}:{out}")
    cfg = json.loads(distill("inspect", SRC, root=root).stdout)["Config"]
    assert info["Layers"] and info["Architecture"] == cfg["architecture"]
    raw = subprocess.run(["skopeo", "inspect", "--config", f"{transport}:{out}"], capture_output=True, text=True)
    assert json.loads(raw.stdout)["rootfs"]["diff_ids"] == cfg["rootfs"]["diff_ids"]
    other = tmp_path / "other"
    r = distill("load", "-i", out, root=other)
    assert "Loaded image: localhost/busybox:test" in r.stdout
    loaded = json.loads(distill("inspect", SRC, root=other).stdout)
    assert loaded["Id"] == json.loads(distill("inspect", SRC, root=root).stdout)["Id"]
    if fmt == "oci":
        # layers stored uncompressed leave as gzip; the archive's manifest is the one loaded
        local = json.loads(distill("inspect", SRC, root=root).stdout)["Manifest"]
        assert all(l["mediaType"] == "application/vnd.oci.image.layer.v1.tar" for l in local["layers"])
        assert all(l["mediaType"].endswith("+gzip") for l in loaded["Manifest"]["layers"])
        assert info["Digest"] == loaded["Digest"] != manifest_digest(root, SRC)


def test_skopeo_written_archive_loads(root, tmp_path, registry):
    """An archive written by another tool (skopeo) loads too."""
    distill("push", SRC, f"{registry.host}/interop/bb:1", root=root)
    out = tmp_path / "by-skopeo.tar"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{registry.host}/interop/bb:1",
                    f"docker-archive:{out}:interop/bb:1"], check=True, capture_output=True)
    other = tmp_path / "other"
    distill("load", "-i", out, root=other)
    assert json.loads(distill("inspect", "interop/bb:1", root=other).stdout)["Id"] == \
        json.loads(distill("inspect", SRC, root=root).stdout)["Id"]


def test_images_history_tag_rmi_prune(root):
    distill("tag", SRC, "mine:v1", root=root)
    out = distill("images", root=root).stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(l.split()[:2] == ["mine", "v1"] for l in out)
    hist = distill("history", "mine:v1", root=root).stdout
    assert "busybox-static rootfs" in hist
    assert distill("rmi", "mine:v1", root=root).stdout.strip() == "Untagged: docker.io/library/mine:v1"
    assert "Deleted 0 blobs" in distill("prune", root=root).stdout  # still reachable from SRC
    distill("rmi", SRC, root=root)
    assert "Deleted 3 blobs" in distill("prune", root=root).stdout


def test_import_a_rootfs_tar(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "hello").write_text("hi\n")
    tarball = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "-czf", tarball, "-C", rootfs, "."], check=True)
    store = tmp_path / "store"
    distill("import", tarball, "imported:1", "-m", "from a tarball", root=store)
    info = json.loads(distill("inspect", "imported:1", root=store).stdout)
    assert len(info["Manifest"]["layers"]) == 1
    assert info["Config"]["history"][0]["comment"] == "from a tarball"


@pytest.mark.parametrize("args, message", [
    (["inspect", "nope:1"], "no such image: nope:1"),
    (["inspect", "Bad/Name"], "repository name must be lowercase"),
    (["pull", "127.0.0.1:1/x:1"], "127.0.0.1:1"),
    (["load", "-i", "/etc/hostname"], "cannot read archive"),
    (["tag", "nope", "x"], "no such image"),
    (["push", "localhost/busybox@sha256:" + "0" * 64], "no such image"),
    (["pull", "x@sha256:../../etc"], "invalid"),
])
def test_user_errors_are_one_line_without_traceback(root, args, message):
    r = distill(*args, root=root, check=False)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bootstrap_round_trip_through_registries(python_store, registry, token_registry, tmp_path, monkeypatch):
    """bootstrap → push → skopeo reads it → pull (again after rmi) gives the pushed manifest
    digest and the local image ID; the
    same through the token-auth registry."""
    from bed.images import PYTHON_BASE
    import base64

    root = python_store.root
    conf = tmp_path / "docker"
    conf.mkdir()
    (conf / "config.json").write_text(json.dumps(
        {"auths": {token_registry.host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    env = {"DOCKER_CONFIG": str(conf)}
    cfg = json.loads(distill("inspect", PYTHON_BASE, root=root).stdout)["Config"]
    assert cfg["history"][0]["created_by"].startswith("distill bootstrap bookworm")
    image_id = json.loads(distill("inspect", PYTHON_BASE, root=root).stdout)["Id"]
    pushed = set()
    for reg, creds in ((registry, []), (token_registry, ["--creds", "alice:s3cret"])):
        dest = f"{reg.host}/debian/python:bookworm"
        out = distill("push", PYTHON_BASE, dest, root=root, env=env).stdout
        digest = out.split("Digest: ")[1].split()[0]
        pushed.add(digest)
        assert skopeo_inspect(f"docker://{dest}", *creds)["Digest"] == digest
        fresh = tmp_path / f"fresh-{reg.port}"
        distill("pull", dest, root=fresh, env=env)
        assert manifest_digest(fresh, dest) == digest
        assert json.loads(distill("inspect", dest, root=fresh).stdout)["Id"] == image_id
        distill("rmi", dest, root=fresh)
        distill("pull", dest, root=fresh, env=env)
        assert manifest_digest(fresh, dest) == digest
    assert len(pushed) == 1  # the gzip form is made the same way each time


@pytest.mark.parametrize("args", [("inspect", SRC), ("inspect", "--build-record", "built:1"),
                                  ("ls", "-R", "--json", SRC), ("compare", "--format", "json", SRC, "built:1")])
def test_a_reader_that_goes_away_ends_the_command_quietly(root, tmp_path, args):
    """`distill inspect X | head -1`: the pipe closed before the output, as coreutils'
    commands do: nothing on stderr, the exit status of a SIGPIPE (141)."""
    import os
    import sys

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {SRC}\nRUN echo x > /x\n")
    distill("build", "-q", "-t", "built:1", ctx, root=root)
    p = subprocess.Popen([sys.executable, "-m", "distill", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, DISTILL_ROOT=str(root)))
    p.stdout.close()  # the reader is gone before a byte is written
    err = p.stderr.read().decode()
    assert (p.wait(), err) == (141, "")


@pytest.mark.parametrize("command, code, message", [
    (["nosuchcmd"], 127, 'distill: error: exec: "nosuchcmd": executable file not found in $PATH\n'),
    (["/etc/passwd"], 126, 'distill: error: exec: "/etc/passwd": permission denied\n'),
    (["./nope"], 127, 'distill: error: exec: "./nope": executable file not found\n')])
def test_a_command_the_image_lacks_is_one_line_and_dockers_status(root, command, code, message):
    r = distill("run", "--rm", "--network", "none", SRC, *command, root=root, check=False)
    assert (r.returncode, r.stderr) == (code, message)
    ok = distill("run", "--rm", "--network", "none", SRC, "echo", "found", root=root)
    assert ok.stdout == "found\n"


def test_an_unnamed_stage_is_stage_n_as_progress_shows_it(root, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {SRC}\nRUN echo one > /one\nFROM {SRC} AS final\n"
                                    "COPY --from=0 /one /one\n")
    r = distill("build", "--progress", "plain", "-t", "staged:1", ctx, root=root)
    assert "[stage-0 2/2] RUN echo one > /one" in r.stderr
    for name in ("stage-0", "0"):
        listed = distill("ls", "--stage", name, "staged:1", "/one", root=root)
        assert "/one" in listed.stdout
    r = distill("ls", "--stage", "stage-7", "staged:1", root=root, check=False)
    assert r.returncode != 0 and "(its stages: stage-0, final)" in r.stderr


def test_small_messages_say_what_they_are_about(root, tmp_path):
    r = distill("db", "status", root=root)
    assert r.stdout.startswith("no vulnerability database yet: ")  # a state, not an error
    r = distill("inspect", "--build-record", SRC, root=root, check=False)
    assert "(pulled, loaded, imported or bootstrapped)" in r.stderr
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {SRC} AS builder\nRUN true\nFROM {SRC}\nCOPY --from=builder /nope /x\n")
    r = distill("build", "-q", ctx, root=root, check=False)
    assert r.returncode == 1 and r.stderr.endswith("Dockerfile:4: COPY: /nope: not found in stage builder\n")
