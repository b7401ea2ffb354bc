"""Pulls and pushes through a fault-injecting proxy in front of the real registry: each
fault ends in a clean success after retries, or one clear error line, and never a blob
stored under a digest it does not have."""

import base64
import json
import os

import pytest

from bed.images import copy_image
from clirun import distill
from distill import api
from distill.image.store import Store

SRC = "localhost/busybox:test"


@pytest.fixture
def bb(store, busybox_store):
    copy_image(busybox_store, store, SRC)
    return store


def faulty(upstream):
    from bed.proxy import FaultyProxy

    return FaultyProxy(f"http://{upstream.host}")


@pytest.fixture
def proxy(registry):
    p = faulty(registry)
    yield p
    p.stop()


def sound(store: Store) -> bool:
    """Every blob the store holds has the digest it is stored under."""
    return distill("fsck", root=store.root, check=False).returncode == 0


def one_line_error(r) -> str:
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_truncated_blobs_are_fetched_again(bb, registry, proxy, tmp_path):
    api.push(bb, SRC, f"{registry.host}/cut/busybox:1")
    proxy.truncate_blobs = 2  # the config and the layer, each cut off half way once
    s = Store(tmp_path / "s")
    pulled = api.pull(s, f"{proxy.host}/cut/busybox:1")
    assert pulled.fetched == 2 and proxy.truncate_blobs == 0 and sound(s)


def test_a_blob_always_cut_short_is_one_error_line_and_stores_nothing(bb, registry, proxy, tmp_path):
    api.push(bb, SRC, f"{registry.host}/cut/busybox:2")
    proxy.truncate_blobs = 1000
    root = tmp_path / "s"
    line = one_line_error(distill("pull", f"{proxy.host}/cut/busybox:2", root=root, check=False))
    assert "connection lost" in line or "closed" in line
    assert list(Store(root).iter_blobs()) == []


def test_a_corrupted_blob_is_one_error_line_and_stores_nothing(bb, registry, proxy, tmp_path):
    api.push(bb, SRC, f"{registry.host}/bad/busybox:1")
    proxy.corrupt_blobs = True
    root = tmp_path / "s"
    line = one_line_error(distill("pull", f"{proxy.host}/bad/busybox:1", root=root, check=False))
    assert "digest mismatch" in line
    assert list(Store(root).iter_blobs()) == []


def test_slow_answers_still_succeed(bb, registry, proxy, tmp_path):
    api.push(bb, SRC, f"{registry.host}/slow/busybox:1")
    proxy.slow = 0.4
    s = Store(tmp_path / "s")
    assert api.pull(s, f"{proxy.host}/slow/busybox:1").fetched == 2 and sound(s)


def test_a_push_through_5xx_and_resets_succeeds(bb, registry, proxy, tmp_path):
    proxy.fail_503, proxy.drop = 3, 2
    pushed = api.push(bb, SRC, f"{proxy.host}/flaky-push/busybox:1")
    assert proxy.fail_503 == 0 and proxy.drop == 0
    s = Store(tmp_path / "s")
    assert api.pull(s, f"{registry.host}/flaky-push/busybox:1").descriptor["digest"] == pushed.digest and sound(s)


def test_a_401_in_the_middle_of_a_pull_gets_a_new_token(bb, token_registry, tmp_path, monkeypatch):
    """The token expires between the manifest and the blobs: the client asks the token
    server again and goes on."""
    p = faulty(token_registry)
    try:
        conf = tmp_path / "docker"
        conf.mkdir()
        creds = base64.b64encode(b"alice:s3cret").decode()
        (conf / "config.json").write_text(json.dumps({"auths": {p.host: {"auth": creds},
                                                                token_registry.host: {"auth": creds}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(conf))
        api.push(bb, SRC, f"{token_registry.host}/team/mid:1")
        realm = token_registry.tokens.registry_config()["realm"]
        p.challenge = f'Bearer realm="{realm}",service="{token_registry.tokens.registry_config()["service"]}",' \
                      f'scope="repository:team/mid:pull"'
        p.unauthorized = 1
        before = len(token_registry.tokens.requests)
        s = Store(tmp_path / "s")
        assert api.pull(s, f"{p.host}/team/mid:1").fetched == 2 and sound(s)
        assert p.unauthorized == 0 and len(token_registry.tokens.requests) >= before + 2
    finally:
        p.stop()


def test_faults_leave_no_partial_blob_behind(bb, registry, proxy, tmp_path):
    """After a failed pull the store's temporary files are gone too."""
    api.push(bb, SRC, f"{registry.host}/cut/busybox:3")
    proxy.truncate_blobs = 1000
    root = tmp_path / "s"
    distill("pull", f"{proxy.host}/cut/busybox:3", root=root, check=False)
    assert os.listdir(Store(root).tmp_dir) == []
