"""Registry round trips against Debian's docker-registry, read back by skopeo."""

import base64
import json
import os
import subprocess

import pytest

from distill import api
from distill.image.oci import mediatypes
from distill.errors import NotFound, RegistryError, VerificationError
from distill.image.store.images import canonical_json, lookup
from distill.image.registry.client import Registry
from distill.image.store import Store
from bed.images import copy_image

SRC = "localhost/busybox:test"


def skopeo_inspect(ref: str, *extra) -> dict:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra, ref], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def bb(store, busybox_store):
    copy_image(busybox_store, store, SRC)
    return store


def test_push_skopeo_rmi_pull_round_trip(bb, registry):
    dest = f"{registry.host}/rt/busybox:1"
    pushed = api.push(bb, SRC, dest)
    assert pushed.uploaded == 2
    info = skopeo_inspect(f"docker://{dest}")
    assert info["Digest"] == pushed.digest and info["Architecture"] == "amd64"
    api.tag(bb, SRC, dest)
    api.rmi(bb, dest)
    bb.prune()
    fresh = Store(os.path.join(os.path.dirname(bb.root), "fresh"))
    pulled = api.pull(fresh, dest)
    assert pulled.descriptor["digest"] == pushed.digest and pulled.fetched == 2
    again = api.pull(fresh, dest)
    assert again.fetched == 0 and again.skipped == 2
    by_digest = api.pull(fresh, f"{registry.host}/rt/busybox@{pushed.digest}")
    assert by_digest.descriptor["digest"] == pushed.digest


def test_token_auth_round_trip_with_docker_config(bb, token_registry, tmp_path, monkeypatch):
    conf = tmp_path / "docker"
    conf.mkdir()
    (conf / "config.json").write_text(json.dumps(
        {"auths": {token_registry.host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(conf))
    dest = f"{token_registry.host}/team/busybox:1"
    pushed = api.push(bb, SRC, dest)
    info = skopeo_inspect(f"docker://{dest}", "--creds", "alice:s3cret")
    assert info["Digest"] == pushed.digest
    fresh = Store(tmp_path / "fresh")
    assert api.pull(fresh, dest).descriptor["digest"] == pushed.digest
    scopes = [q["query"].get("scope") for q in token_registry.tokens.requests]
    assert any("repository:team/busybox:pull,push" in (s or []) for s in scopes)
    assert all(q["authorization"].startswith("Basic ") for q in token_registry.tokens.requests)


def test_token_auth_without_credentials_is_a_clear_error(bb, token_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    with pytest.raises(RegistryError, match="authentication failed"):
        api.pull(Store(tmp_path / "s"), f"{token_registry.host}/team/busybox:1")


def test_credential_helper(bb, token_registry, tmp_path, monkeypatch):
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-distilltest"
    helper.write_text('#!/bin/sh\nread host\necho \'{"ServerURL":"\'$host\'","Username":"alice","Secret":"s3cret"}\'\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper_dir}:/usr/bin:/bin")
    conf = tmp_path / "docker"
    conf.mkdir()
    (conf / "config.json").write_text(json.dumps({"credHelpers": {token_registry.host: "distilltest"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(conf))
    pushed = api.push(bb, SRC, f"{token_registry.host}/helper/busybox:1")
    assert pushed.uploaded + pushed.existing + pushed.mounted == 2


def test_chunked_upload_and_cross_repo_mount(bb, registry):
    first = f"{registry.host}/mount/a:1"
    pushed = api.push(bb, SRC, first, chunk_size=64 * 1024)  # busybox's layer is ~1 MB: many PATCHes
    assert pushed.uploaded == 2
    assert skopeo_inspect(f"docker://{first}")["Digest"] == pushed.digest
    api.tag(bb, SRC, first)  # the store now knows repo mount/a holds these blobs
    second = api.push(bb, SRC, f"{registry.host}/mount/b:1")
    assert second.mounted == 2 and second.uploaded == 0


def test_uncompressed_layers_leave_as_gzip(store, registry, tmp_path):
    """A layer made here is stored uncompressed and pushed as gzip; the gzip digest is
    remembered, so pushing to a second repository mounts it instead of compressing again;
    pulled back, the same content (diffID) unpacks."""
    import io
    import tarfile

    from distill.image.layers.blob import verify_diff_id

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"compressible line\n" * 50_000
        info = tarfile.TarInfo("etc/words")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    api.import_rootfs(store, buf, "localhost/made:here")
    local = lookup(store, "localhost/made:here")
    assert local.layers[0]["mediaType"] == mediatypes.OCI_LAYER
    first = api.push(store, "localhost/made:here", f"{registry.host}/made/a:1")
    assert first.uploaded == 2 and first.digest != local.manifest_digest
    gz = store.layer_facts(local.diff_ids[0])["gzip"]
    assert gz["mediaType"] == mediatypes.OCI_LAYER_GZIP and gz["size"] < local.layers[0]["size"] // 10
    api.tag(store, "localhost/made:here", f"{registry.host}/made/a:1")
    second = api.push(store, "localhost/made:here", f"{registry.host}/made/b:1")
    assert (second.mounted, second.uploaded, second.digest) == (2, 0, first.digest)
    fresh = Store(tmp_path / "fresh")
    api.pull(fresh, f"{registry.host}/made/b:1")
    pulled = lookup(fresh, f"{registry.host}/made/b:1")
    assert pulled.layers == [gz] and pulled.config_digest == local.config_digest
    assert verify_diff_id(fresh, gz, local.diff_ids[0]) == local.layers[0]["size"]


def test_index_platform_selection_and_docker_media_types(bb, registry):
    """An index with two platforms, one of them as a Docker schema2 manifest."""
    img = lookup(bb, SRC)
    repo = "multi/busybox"
    with Registry(registry.host) as reg:
        for d in [img.config_digest] + [l["digest"] for l in img.layers]:
            reg.upload_blob(repo, d, bb.blob_size(d), lambda d=d: bb.open_blob(d))
        arm_config = canonical_json({**img.config, "architecture": "arm64", "variant": "v8"})
        arm_digest = bb.write_blob(arm_config)
        reg.upload_blob(repo, arm_digest, len(arm_config), lambda: bb.open_blob(arm_digest))
        docker_manifest = canonical_json({
            "schemaVersion": 2, "mediaType": mediatypes.DOCKER_MANIFEST,
            "config": {"mediaType": mediatypes.DOCKER_CONFIG, "digest": img.config_digest,
                       "size": bb.blob_size(img.config_digest)},
            "layers": [{**l, "mediaType": mediatypes.DOCKER_LAYER_GZIP} for l in img.layers]})
        arm_manifest = canonical_json({**img.manifest, "config": {**img.manifest["config"], "digest": arm_digest,
                                                                   "size": len(arm_config)}})
        amd = reg.put_manifest(repo, "amd", docker_manifest, mediatypes.DOCKER_MANIFEST)
        arm = reg.put_manifest(repo, "arm", arm_manifest, mediatypes.OCI_MANIFEST)
        index = canonical_json({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [
            {"mediaType": mediatypes.OCI_MANIFEST, "digest": arm, "size": len(arm_manifest),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": mediatypes.DOCKER_MANIFEST, "digest": amd, "size": len(docker_manifest),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]})
        reg.put_manifest(repo, "1", index, mediatypes.OCI_INDEX)
    s = Store(os.path.join(os.path.dirname(bb.root), "multi"))
    amd_pull = api.pull(s, f"{registry.host}/{repo}:1", platform="linux/amd64")
    assert amd_pull.descriptor["digest"] == amd and amd_pull.descriptor["mediaType"] == mediatypes.DOCKER_MANIFEST
    arm_pull = api.pull(s, f"{registry.host}/{repo}:1", platform="linux/arm64")
    assert arm_pull.descriptor["digest"] == arm
    assert api.inspect(s, f"{registry.host}/{repo}:1")["Config"]["architecture"] == "arm64"
    with pytest.raises(Exception, match="no image for platform linux/s390x"):
        api.pull(s, f"{registry.host}/{repo}:1", platform="linux/s390x")


def test_missing_image_is_not_found(registry, tmp_path):
    with pytest.raises(NotFound, match="manifest unknown"):
        api.pull(Store(tmp_path / "s"), f"{registry.host}/nope/none:1")


@pytest.fixture
def proxy(registry):
    from bed.proxy import FaultyProxy

    p = FaultyProxy(f"http://{registry.host}")
    yield p
    p.stop()


def test_retries_on_503_and_dropped_connections(bb, registry, proxy, tmp_path):
    dest = f"{registry.host}/flaky/busybox:1"
    api.push(bb, SRC, dest)
    proxy.fail_503 = 2
    proxy.drop = 1
    pulled = api.pull(Store(tmp_path / "s"), f"{proxy.host}/flaky/busybox:1")
    assert pulled.fetched == 2
    assert proxy.fail_503 == 0 and proxy.drop == 0


def test_corrupted_blob_never_enters_the_store(bb, registry, proxy, tmp_path):
    dest = f"{registry.host}/corrupt/busybox:1"
    api.push(bb, SRC, dest)
    proxy.corrupt_blobs = True
    s = Store(tmp_path / "s")
    with pytest.raises(VerificationError, match="digest mismatch"):
        api.pull(s, f"{proxy.host}/corrupt/busybox:1")
    assert list(s.iter_blobs()) == [] and s.tags() == []


def test_token_not_sent_to_another_host_on_redirect(bb, registry, tmp_path):
    from bed.proxy import FaultyProxy

    dest = f"{registry.host}/redirect/busybox:1"
    api.push(bb, SRC, dest)
    other = FaultyProxy(f"http://{registry.host}")   # "another host": a CDN, say
    front = FaultyProxy(f"http://{registry.host}")
    front.redirect_blobs_to = f"http://{other.host}"
    try:
        with Registry(front.host) as reg:
            reg.auth.scheme = "bearer"
            reg.auth.tokens[reg.scope("redirect/busybox")] = "SECRET-TOKEN"
            from distill.image.registry.pull import pull

            pull(Store(tmp_path / "s"), reg, __import__("distill.image.oci.reference", fromlist=["parse"]).parse(
                f"{front.host}/redirect/busybox:1"))
        assert any(auth == "Bearer SECRET-TOKEN" for _, _, auth in front.seen)
        blob_gets = [a for m, p, a in other.seen if "/blobs/" in p]
        assert blob_gets and all(a is None for a in blob_gets)
    finally:
        other.stop()
        front.stop()


OCI = "application/vnd.oci.image.manifest.v1+json"


def _evil_manifest(layer_digest):
    return json.dumps({"schemaVersion": 2, "mediaType": OCI,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "a" * 64, "size": 2},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": layer_digest, "size": 10}]}).encode()


@pytest.mark.parametrize("bad_digest", ["sha256:../../../../etc/passwd", "sha256:" + "g" * 64, "md5:abc",
                                        "sha256:" + "A" * 64])
def test_hostile_descriptor_digests_are_refused_before_use(proxy, tmp_path, bad_digest):
    proxy.canned["/manifests/1"] = (200, {"Content-Type": OCI}, _evil_manifest(bad_digest))
    s = Store(tmp_path / "s")
    with pytest.raises(Exception, match="invalid digest"):
        api.pull(s, f"{proxy.host}/evil/img:1")
    assert list(s.iter_blobs()) == [] and s.tags() == []
    assert not any(p.name == "passwd" for p in tmp_path.rglob("passwd"))


def test_manifest_that_does_not_match_its_digest(proxy, tmp_path):
    body = _evil_manifest("sha256:" + "b" * 64)
    wanted = "sha256:" + "c" * 64
    proxy.canned[f"/manifests/{wanted}"] = (200, {"Content-Type": OCI}, body)
    with pytest.raises(VerificationError, match="does not match its digest"):
        api.pull(Store(tmp_path / "s"), f"{proxy.host}/evil/img@{wanted}")


def test_oversized_manifest_is_refused(proxy, tmp_path):
    proxy.canned["/manifests/big"] = (200, {"Content-Type": OCI}, b"{" + b" " * (5 << 20) + b"}")
    with pytest.raises(RegistryError, match="larger than"):
        api.pull(Store(tmp_path / "s"), f"{proxy.host}/evil/img:big")


def test_unsupported_manifest_type_is_a_clear_error(proxy, tmp_path):
    proxy.canned["/manifests/v1"] = (200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+json"},
                                     json.dumps({"schemaVersion": 1, "fsLayers": []}).encode())
    with pytest.raises(RegistryError, match="unsupported manifest type"):
        api.pull(Store(tmp_path / "s"), f"{proxy.host}/evil/img:v1")


def test_token_server_without_a_token(proxy, tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = b'{"nothing": "here"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    tokens = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    try:
        realm = f"http://127.0.0.1:{tokens.server_address[1]}/token"
        proxy.canned["/manifests/1"] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'}, b"")
        with pytest.raises(RegistryError, match="gave no token"):
            api.pull(Store(tmp_path / "s"), f"{proxy.host}/evil/img:1")
    finally:
        tokens.shutdown()


def _files(root) -> dict:
    """Every entry under `root`: type, mode, owner, content or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            body = os.readlink(p) if os.path.islink(p) else open(p, "rb").read() if os.path.isfile(p) else None
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_gid, body)
    return out


def test_a_base_a_build_runs_on_is_unpacked_as_it_arrives(bb, registry, proxy, tmp_path):
    """pull(unpack=True), as a build pulls a base a RUN will stand on: each layer's
    snapshot is made from the bytes as they arrive, the same tree as an unpack of the
    stored blob; a transfer cut short part way (config and layer, once each) leaves
    nothing behind, and its retry unpacks afresh."""
    from distill.image.layers import toc
    from distill.image.layers.unpack import is_unpacked, unpacked
    from distill.image.registry.pull import pull_named

    dest = f"{registry.host}/arrive/busybox:1"
    api.push(bb, SRC, dest)
    proxy.truncate_blobs = 2
    streamed = Store(tmp_path / "streamed")
    pull_named(streamed, f"{proxy.host}/arrive/busybox:1", unpack=True)
    assert proxy.truncate_blobs == 0
    image = lookup(streamed, f"{proxy.host}/arrive/busybox:1")
    assert image.diff_ids and all(is_unpacked(streamed, d) for d in image.diff_ids)
    assert os.listdir(streamed.tmp_dir) == []
    later = Store(tmp_path / "later")
    pull_named(later, dest)
    assert not any(is_unpacked(later, d) for d in image.diff_ids)  # a plain pull unpacks nothing
    for layer, diff_id in zip(image.layers, image.diff_ids):
        assert _files(unpacked(streamed, layer, diff_id)) == _files(unpacked(later, layer, diff_id))
        # the unpack kept the layer's table of contents too, as a scan of the blob makes it
        assert os.path.exists(toc.toc_path(streamed, diff_id))
        with streamed.open_blob(layer["digest"]) as f:
            assert toc.layer_toc(streamed, layer, diff_id) == toc.scan(f, layer, diff_id)[0]


def test_a_layer_that_is_not_what_its_config_says_is_pulled_but_not_unpacked(bb, registry, tmp_path):
    """The config's diffID is the check: a layer whose content differs arrives (its
    digest is right) and gets no snapshot; unpacking it later says why."""
    from distill.image.layers.unpack import is_unpacked, unpacked
    from distill.image.registry.pull import pull_named

    image = lookup(bb, SRC)
    config = dict(image.config, rootfs={"type": "layers", "diff_ids": ["sha256:" + "ab" * 32] * len(image.diff_ids)})
    data = canonical_json(config)
    config_digest = bb.write_blob(data)
    manifest = dict(image.manifest, config={"mediaType": mediatypes.OCI_CONFIG, "digest": config_digest,
                                            "size": len(data)})
    body = canonical_json(manifest)
    bb.set_tag("localhost/busybox:lying", {"mediaType": mediatypes.OCI_MANIFEST, "digest": bb.write_blob(body),
                                            "size": len(body)})
    dest = f"{registry.host}/lying/busybox:1"
    api.push(bb, "localhost/busybox:lying", dest)
    s = Store(tmp_path / "s")
    pull_named(s, dest, unpack=True)
    lying = lookup(s, dest)
    assert not any(is_unpacked(s, d) for d in lying.diff_ids) and os.listdir(s.tmp_dir) == []
    with pytest.raises(VerificationError, match="content has diffID"):
        unpacked(s, lying.layers[0], lying.diff_ids[0])
