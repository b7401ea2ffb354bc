"""distill size on images built here: waste and efficiency exactly, against an independent
computation (every layer's tar read with Python's tarfile, the final tree unpacked by the
applier and walked on disk), each way a file can be hidden, and dive's over-count."""

import json
import os
import stat
import tarfile

import pytest

from bed.images import copy_image, waste_dockerfile
from buildtools import BUSYBOX, build, tree, write_context
from clirun import distill
from distill import api

FROM = f"FROM {BUSYBOX}"

HIDING = waste_dockerfile(BUSYBOX)
WASTED = [0, 1000 + 2000 + 500 + 700 + 400 + 300, 300, 0]


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def independent_waste(store, image, unpacked) -> tuple[int, int]:
    """(every layer's regular-file bytes, by tarfile) and (the bytes the unpacked image
    shows, each inode once, by walking it on disk)."""
    total = 0
    for desc in image.layers:
        with store.open_blob(desc["digest"]) as f, tarfile.open(fileobj=f, mode="r:*") as tar:
            total += sum(m.size for m in tar if m.isreg())
    shown, seen = 0, set()
    for root, dirs, files in os.walk(unpacked):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                seen.add(st.st_ino)
                shown += st.st_size
    return total, shown


def test_waste_each_way_a_file_is_hidden(store, tmp_path):
    _, _, image = build(store, None, HIDING, tags=["localhost/size:hiding"])
    report = api.size(store, "localhost/size:hiding")
    assert [l["wasted_bytes"] for l in report["layers"]] == WASTED
    assert report["wasted_bytes"] == sum(WASTED) == 5200
    total, shown = independent_waste(store, image, tree(store, image, tmp_path / "unpacked"))
    assert report["files"] == total and report["files"] - report["wasted_bytes"] == shown
    assert report["efficiency"] == shown / total
    by_path = {w["path"]: w for w in report["wasted"]}
    assert by_path["/thrice"]["bytes"] == 600  # two hidden copies: dive counts all three (900)
    assert [c["layer"] for c in by_path["/thrice"]["copies"]] == [1, 2]
    assert {p: w["bytes"] for p, w in by_path.items() if p != "/thrice"} == \
        {"/gone": 2000, "/over": 1000, "/dir/x": 700, "/mode": 500, "/opq/y": 400}
    assert "/hard" not in by_path
    # each layer says who made it
    assert [(l["stage"], l["line"]) for l in report["layers"][1:]] == [("stage-0", 2), ("stage-0", 5), ("stage-0", 7)]
    assert report["layers"][1]["created_by"].startswith("RUN head -c 1000")
    assert report["largest"][0] == {"path": "/bin/busybox", "size": os.path.getsize("/bin/busybox"), "layer": 0}


def test_the_json_and_the_gates(store):
    build(store, None, HIDING, tags=["localhost/size:hiding"])
    ran = distill("size", "--format", "json", "localhost/size:hiding", root=store.root)
    doc = json.loads(ran.stdout)
    assert {"size", "wasted_bytes", "efficiency", "layers", "largest"} <= set(doc)
    assert set(doc["layers"][0]) >= {"digest", "size", "wasted_bytes", "created_by", "line", "stage"}
    assert doc["wasted_bytes"] == 5200 and doc["failed"] == []
    for gate, value, fails in (("--max-wasted", "5000", True), ("--max-wasted", "6KB", False),
                               ("--min-efficiency", "100%", True), ("--min-efficiency", "0.5", False),
                               ("--max-size", "1KB", True), ("--max-size", "1GB", False),
                               ("--max-wasted-percent", "0.001", True), ("--max-wasted-percent", "50", False)):
        r = distill("size", gate, value, "localhost/size:hiding", root=store.root, check=False)
        assert r.returncode == (1 if fails else 0), (gate, value, r.stdout)
        assert ("FAIL: " in r.stdout) == fails
    r = distill("size", "--min-efficiency", "1.5", "localhost/size:hiding", root=store.root, check=False)
    assert r.returncode == 2 and "not between 0 and 1" in r.stderr
    r = distill("size", "localhost/size:nothing", root=store.root, check=False)
    assert r.returncode == 2 and r.stderr.startswith("distill: error: ") and "Traceback" not in r.stderr


def test_multi_stage_bytes_by_source_stage(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"app.txt": "app\n"})
    build(store, ctx, f"""{FROM} AS builder
RUN mkdir /out && head -c 3000 /dev/zero > /out/tool && head -c 5000 /dev/zero > /big-build-only
{FROM} AS assets
RUN head -c 1200 /dev/zero > /asset
{FROM}
COPY --from=builder /out/tool /usr/local/bin/tool
COPY --from=assets /asset /srv/asset
COPY app.txt /srv/
""", tags=["localhost/size:multi"])
    report = api.size(store, "localhost/size:multi")
    layers = report["layers"]
    st = report["stages"]
    assert st["final"] == "stage-2"
    assert [(c["stage"], c["line"], c["files"]) for c in st["copies_from"]] == [("builder", 6, 3000), ("assets", 7, 1200)]
    assert st["from_stage"] == {"builder": layers[1]["size"], "assets": layers[2]["size"]}
    assert st["base"] == {"ref": BUSYBOX, "size": layers[0]["size"], "layers": 1}
    assert st["own"] == layers[3]["size"]
    assert report["wasted_bytes"] == 0 and report["efficiency"] == 1.0
    assert "/big-build-only" not in {f["path"] for f in report["largest"]}
    out = distill("size", "localhost/size:multi", root=store.root).stdout
    assert "COPY --from=builder" in out and "final stage stage-2: base localhost/busybox:test" in out


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_an_archive_is_measured_in_place(store, tmp_path, fmt):
    """The same figures from a saved archive (the OCI one with gzip layers), read in place."""
    build(store, None, HIDING, tags=["localhost/size:hiding"])
    archive = tmp_path / f"hiding-{fmt}.tar"
    distill("save", "localhost/size:hiding", "-o", archive, "--format", fmt, root=store.root)
    other = tmp_path / "other"
    doc = json.loads(distill("size", "--format", "json", archive, root=other).stdout)
    mine = api.size(store, "localhost/size:hiding")
    for key in ("size", "files", "wasted_bytes", "efficiency", "largest", "wasted"):
        assert doc[key] == mine[key], key
    assert [l["wasted_bytes"] for l in doc["layers"]] == WASTED
    assert not (other / "blobs" / "sha256").exists() or not list((other / "blobs" / "sha256").iterdir())


def test_a_broken_archive_is_one_clear_error(store, tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        data = json.dumps([{"Config": "c.json", "Layers": ["missing/layer.tar"]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        import io

        t.addfile(info, io.BytesIO(data))
        config = json.dumps({"rootfs": {"diff_ids": ["sha256:" + "0" * 64]}}).encode()
        info = tarfile.TarInfo("c.json")
        info.size = len(config)
        t.addfile(info, io.BytesIO(config))
    r = distill("size", bad, root=store.root, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"distill: error: {bad}: the archive has no 'missing/layer.tar'"
