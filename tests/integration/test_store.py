"""The store: verified atomic blobs, tags in index.json, concurrency, prune."""

import io
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from distill import digest as digests
from distill.errors import InvalidDigest, NotFound, VerificationError
from distill.image.store.images import lookup, write_image
from distill.image.store import REF_NAME, Store
from distill.fs.atomic import remove_tree, temp_dir, temp_file


def test_layout_files(tmp_path):
    Store(tmp_path)
    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((tmp_path / "index.json").read_text())["manifests"] == []


def test_temp_files_and_dirs_are_new_and_private(tmp_path):
    made = set()
    for _ in range(50):
        fd, path = temp_file(tmp_path, "blob-")
        os.close(fd)
        made.add(path)
        assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path).startswith("blob-")
        assert os.stat(path).st_mode & 0o777 == 0o600
    d = temp_dir(tmp_path, "copy-")
    assert os.path.dirname(d) == str(tmp_path) and os.path.basename(d).startswith("copy-")
    assert os.stat(d).st_mode & 0o777 == 0o700
    assert len(made | {d}) == 51


def test_remove_tree_empty_full_or_gone(tmp_path):
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    (full / "a" / "b").mkdir(parents=True)
    (full / "a" / "b" / "f").write_text("x")
    os.symlink("/etc", full / "link")  # removed as a link, its target untouched
    for d in (empty, full, tmp_path / "never"):
        remove_tree(d)
        assert not d.exists()
    assert os.path.isdir("/etc")


def test_blob_verified_on_the_way_in(tmp_path):
    s = Store(tmp_path)
    d = s.write_blob(b"hello")
    assert d == digests.of_bytes(b"hello") and s.read_blob(d) == b"hello"
    with pytest.raises(VerificationError, match="digest mismatch"):
        s.ingest(io.BytesIO(b"evil"), expected_digest=digests.of_bytes(b"good"), expected_size=4)
    with pytest.raises(VerificationError, match="larger than its declared size"):
        s.ingest(io.BytesIO(b"x" * 100), expected_digest=digests.of_bytes(b"x" * 100), expected_size=10)
    with pytest.raises(VerificationError, match="got 3 bytes"):
        s.ingest(io.BytesIO(b"abc"), expected_digest=digests.of_bytes(b"abc"), expected_size=10)
    assert not s.has_blob(digests.of_bytes(b"evil"))
    assert os.listdir(tmp_path / "tmp") == []  # failed writes leave nothing behind


def test_big_blob_synced_behind_the_writer(tmp_path, monkeypatch):
    """Past the sync interval a helper thread puts the blob on disk while writing goes on;
    commit and abort both wait for it, and the blob is exactly what was written."""
    import hashlib

    from distill.image.store import layout

    monkeypatch.setattr(layout, "_SYNC_EVERY", 1 << 20)
    s = Store(tmp_path)
    chunk = os.urandom(256 << 10)
    h = hashlib.sha256()
    with s.writer(None) as w:
        for _ in range(20):  # 5 MB: several background syncs
            w.write(chunk)
            h.update(chunk)
        digest = w.commit()
    assert digest == "sha256:" + h.hexdigest() and s.read_blob(digest) == chunk * 20
    with pytest.raises(RuntimeError):
        with s.writer(None) as w:
            for _ in range(8):
                w.write(chunk)
            raise RuntimeError("interrupted mid-blob")
    assert os.listdir(s.tmp_dir) == []


def test_invalid_digest_never_becomes_a_path(tmp_path):
    s = Store(tmp_path)
    for bad in ("sha256:../../../etc/passwd", "sha256:" + "A" * 64, "../x"):
        with pytest.raises(InvalidDigest):
            s.blob_path(bad)


def test_killed_writer_leaves_no_blob_under_its_name(tmp_path):
    s = Store(tmp_path)
    w = s.writer(digests.of_bytes(b"complete"), 8)
    w.write(b"comp")
    # the process dies here: nothing is renamed into blobs/
    assert not s.has_blob(digests.of_bytes(b"complete"))
    assert list(s.iter_blobs()) == []


def _image(s, payload=b"layer"):
    layer = s.write_blob(payload)
    desc = write_image(s, {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer]}},
                       [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": len(payload)}])
    return desc, layer


def test_tags_and_lookup(tmp_path):
    s = Store(tmp_path)
    desc, _ = _image(s)
    s.set_tag("docker.io/library/app:1", desc)
    s.set_tag("docker.io/library/app:1", desc)  # re-tagging replaces, never duplicates
    assert [n for n, _ in s.tags()] == ["docker.io/library/app:1"]
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["manifests"][0]["annotations"][REF_NAME] == "docker.io/library/app:1"
    img = lookup(s, "app:1")
    assert img.manifest_digest == desc["digest"]
    assert lookup(s, img.config_digest[7:19]).manifest_digest == desc["digest"]
    with pytest.raises(NotFound, match="no such image: app:2"):
        lookup(s, "app:2")
    s.remove_tag("docker.io/library/app:1")
    with pytest.raises(NotFound):
        s.remove_tag("docker.io/library/app:1")


def test_a_store_sees_tags_another_process_writes(tmp_path):
    """Reads of index.json are parsed once while its bytes stay the same: never stale."""
    reader, writer = Store(tmp_path), Store(tmp_path)
    desc, _ = _image(writer)
    assert reader.tags() == [] and reader.untagged() == []
    writer.add_untagged(desc)
    assert reader.untagged() == [{k: desc[k] for k in ("mediaType", "digest", "size")}]
    writer.set_tag("docker.io/library/app:1", desc)
    assert [n for n, _ in reader.tags()] == ["docker.io/library/app:1"] and reader.untagged() == []
    writer.remove_tag("docker.io/library/app:1")
    assert reader.tags() == []


def test_prune_removes_only_unreachable(tmp_path):
    s = Store(tmp_path)
    desc, layer = _image(s, b"kept")
    s.set_tag("docker.io/library/keep:1", desc)
    orphan = s.write_blob(b"orphan")
    count, size = s.prune()
    assert (count, size) == (1, 6)
    assert not s.has_blob(orphan) and s.has_blob(layer) and s.has_blob(desc["digest"])
    lookup(s, "keep:1")


def _unreached_bytes(s):
    """What the blobs no image reaches take, counted the slow way."""
    reachable = s.reachable()
    return sum(s.blob_size(d) for d in s.iter_blobs() if d not in reachable)


def test_ledger_bounds_what_no_image_reaches_without_a_scan(tmp_path):
    from distill.image.store import layout

    s = Store(tmp_path)
    desc, _ = _image(s, b"kept" * 1000)
    s.set_tag("docker.io/library/keep:1", desc)
    assert s.unreached_bytes_bound() is None  # never counted: commits do not start a ledger
    s.write_blob(b"orphan")
    s.prune()
    assert s.unreached_bytes_bound() == _unreached_bytes(s) == 0  # the image's blobs are left out
    s.write_blob(b"x" * 1000)
    s.write_blob(b"x" * 1000)  # present: nothing written, nothing counted
    assert s.unreached_bytes_bound() == 1000 == _unreached_bytes(s)
    # the name moves to another image: the first one's blobs may now be the cache's alone
    other, _ = _image(s, b"other")
    s.set_tag("docker.io/library/keep:1", other)
    assert s.unreached_bytes_bound() >= _unreached_bytes(s) > 1000
    s.remove_tag("docker.io/library/keep:1")
    assert s.unreached_bytes_bound() >= _unreached_bytes(s)
    assert s.collect(lambda reachable: ()) is not None and s.unreached_bytes_bound() == _unreached_bytes(s) == 0
    Path(s.ledger).write_text("1\n" * (layout._LEDGER_LINES + 1))
    assert s.unreached_bytes_bound() is None  # grown long: to be counted afresh


def test_images_above_the_cache_limit_do_not_make_every_build_collect(tmp_path, monkeypatch):
    """The cache limit counts the cache's own layers; named images past it must not send
    each build into a full collection."""
    from distill import api

    s = Store(tmp_path)
    desc, _ = _image(s, b"i" * 100_000)
    s.set_tag("docker.io/library/big:1", desc)
    monkeypatch.setenv("DISTILL_CACHE_KEEP", "50KB")
    assert api.collect_cache(s) is not None  # never counted: a first collection counts
    s.write_blob(b"c" * 1000)  # a small cache layer: far under the limit
    assert api.collect_cache(s) is None  # answered from the ledger, with no collection


def _tagger(root, i):
    s = Store(root)
    desc, _ = _image(s, f"layer-{i}".encode())
    for j in range(20):
        s.set_tag(f"docker.io/library/t{i}:{j}", desc)


def test_concurrent_processes_do_not_lose_tags(tmp_path):
    Store(tmp_path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_tagger, args=(tmp_path, i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(Store(tmp_path).tags()) == 80


def test_store_holds_a_multi_platform_index(tmp_path):
    from distill.image.oci import mediatypes
    from distill import platform
    from distill.image.store.images import canonical_json

    s = Store(tmp_path)
    entries = []
    for arch in ("amd64", "arm64"):
        layer = s.write_blob(arch.encode())
        desc = write_image(s, {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer]}},
                           [{"mediaType": mediatypes.OCI_LAYER, "digest": layer, "size": len(arch)}])
        entries.append({**desc, "platform": {"os": "linux", "architecture": arch}})
    index = canonical_json({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries})
    s.set_tag("docker.io/library/multi:1", {"mediaType": mediatypes.OCI_INDEX, "digest": s.write_blob(index),
                                            "size": len(index)})
    assert lookup(s, "multi:1", platform.parse("linux/arm64")).config["architecture"] == "arm64"
    assert lookup(s, "multi:1", platform.parse("linux/amd64")).config["architecture"] == "amd64"
    assert s.prune() == (0, 0)  # both platforms' blobs are reachable through the index
