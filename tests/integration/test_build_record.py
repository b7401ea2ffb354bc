"""Build records: how each image was built (stages, bases, steps, layers, COPY --from),
stored beside the image, readable later, and gone with it. Also the config BuildKit
writes for bases without a PATH."""

import json
from pathlib import Path

import pytest

from bed.images import copy_image
from buildtools import BUSYBOX, build, listing, tree, write_context
from clirun import distill
from distill import api
from distill.config import DEFAULT_PATH
from distill.image.store.images import from_descriptor, lookup
from distill.image.oci.mediatypes import BUILD_RECORD
from distill.image.store.records import entry

DOCKERFILE = f"""ARG BASE={BUSYBOX}
FROM $BASE AS builder
WORKDIR /src
COPY hello.txt .
RUN mkdir -p /out/bin \\
 && cp hello.txt /out/greeting && echo built > /out/bin/tool
ENV NOT_SHIPPED=1

FROM scratch
COPY --from=builder /out/ /app/
COPY --from=builder /out/bin/* /usr/local/bin/
CMD ["/app/bin/tool"]
"""


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


@pytest.fixture
def ctx(tmp_path):
    return write_context(tmp_path / "ctx", {"hello.txt": "hello\n", "Dockerfile": DOCKERFILE})


def steps_of(stage):
    return [(s["line"], s["instruction"].split()[0]) for s in stage["steps"]]


def test_the_record_says_how_each_stage_was_built(store, ctx, tmp_path):
    _, desc, image = build(store, ctx, DOCKERFILE, tags=["localhost/rec:1"])
    record = api.build_record(store, "localhost/rec:1")
    assert record["version"] == 1
    assert record["dockerfile"]["path"] == str(ctx / "Dockerfile")
    assert record["dockerfile"]["digest"].startswith("sha256:") and record["target"] == "1"
    builder, final = record["stages"]
    assert (builder["index"], builder["name"], builder["line"], builder["target"]) == (0, "builder", 2, False)
    busybox = lookup(store, BUSYBOX)
    assert builder["base"] == {"ref": "localhost/busybox:test", "kind": "image", "digest": busybox.manifest_digest}
    assert final["base"] == {"ref": "scratch", "kind": "scratch"} and final["target"]
    assert steps_of(builder) == [(3, "WORKDIR"), (4, "COPY"), (5, "RUN"), (7, "ENV")]
    assert builder["steps"][2]["end_line"] == 6  # the continued RUN spans two lines
    assert steps_of(final) == [(10, "COPY"), (11, "COPY"), (12, "CMD")]
    # every step that made a layer names it, in the order the image has them
    made = [s["layer"] for s in final["steps"] if s["layer"]]
    assert made == [l["digest"] for l in image.layers]
    assert [s["cached"] for s in final["steps"]] == [False, False, None]  # CMD only sets config
    copy_dir, copy_glob = final["steps"][0]["copies"], final["steps"][1]["copies"]
    assert copy_dir == {"from": {"stage": 0, "name": "builder"}, "paths": [["/out", "/app"]], "truncated": False}
    assert copy_glob["paths"] == [["/out/bin/tool", "/usr/local/bin/tool"]]
    assert builder["steps"][1]["copies"] == {"from": {"context": True}, "paths": [["hello.txt", "/src/hello.txt"]],
                                             "truncated": False}
    # the final stage is the image itself; the builder's files can be read through its own image
    assert final["image"] == {"id": image.config_digest, "manifest": desc["digest"]}
    stage_image = from_descriptor(store, {"digest": builder["image"]["manifest"],
                                          "mediaType": "application/vnd.oci.image.manifest.v1+json"})
    assert stage_image.config_digest == builder["image"]["id"]
    assert {"out/greeting", "out/bin/tool", "src/hello.txt"} <= listing(tree(store, stage_image, tmp_path / "b"))
    assert "NOT_SHIPPED=1" in stage_image.config["config"]["Env"]
    # intermediate stages are not listed as images
    assert sorted(r.repository for r in api.images(store)) == ["localhost/busybox", "localhost/rec"]


def test_a_rebuild_after_an_edit_records_what_came_from_the_cache(store, ctx):
    build(store, ctx, DOCKERFILE, tags=["localhost/rec:1"])
    (ctx / "hello.txt").write_text("hello again\n")
    build(store, ctx, DOCKERFILE, tags=["localhost/rec:2"])
    builder, final = api.build_record(store, "localhost/rec:2")["stages"]
    assert [s["cached"] for s in builder["steps"]] == [True, False, False, None]
    # a cached COPY --from still says what it copied (kept with its cache record)
    build(store, ctx, DOCKERFILE.replace('CMD ["/app/bin/tool"]', 'CMD ["tool"]'), tags=["localhost/rec:3"])
    final = api.build_record(store, "localhost/rec:3")["stages"][1]
    assert [s["cached"] for s in final["steps"]] == [True, True, None]
    assert final["steps"][0]["copies"]["paths"] == [["/out", "/app"]]


def test_a_no_op_rebuild_keeps_the_record_and_writes_nothing(store, ctx):
    build(store, ctx, DOCKERFILE, tags=["localhost/rec:1"])
    first = api.build_record(store, "localhost/rec:1")
    index = (Path(store.root) / "index.json").read_bytes()
    build(store, ctx, DOCKERFILE, tags=["localhost/rec:1"])
    assert (Path(store.root) / "index.json").read_bytes() == index
    assert api.build_record(store, "localhost/rec:1") == first  # how the image was first made


def test_the_record_goes_with_its_image(store, ctx):
    _, unnamed_desc, _ = build(store, ctx, DOCKERFILE)
    unnamed_record = entry(store, unnamed_desc["digest"], BUILD_RECORD)
    assert unnamed_record is not None
    _, named_desc, _ = build(store, ctx, DOCKERFILE.replace("ENV NOT_SHIPPED=1", "ENV NOT_SHIPPED=2"),
                             tags=["localhost/rec:1"])
    stage_manifests = json.loads(store.read_blob(entry(store, named_desc["digest"], BUILD_RECORD)["digest"]))["layers"]
    api.rmi(store, "localhost/rec:1")
    assert entry(store, named_desc["digest"], BUILD_RECORD) is None  # left with its last name
    api.prune(store, cache=True)
    assert entry(store, unnamed_desc["digest"], BUILD_RECORD) is None  # left with the unnamed image
    assert not store.has_blob(unnamed_record["digest"])
    assert not any(store.has_blob(m["digest"]) for m in stage_manifests)
    assert [d for d in store.entries() if d.get("artifactType")] == []


def test_images_made_elsewhere_have_none(store, tmp_path):
    assert api.build_record(store, BUSYBOX) is None
    r = distill("inspect", "--build-record", BUSYBOX, root=store.root, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"distill: error: {BUSYBOX} has no build record: it was not built by this store (pulled, loaded, imported or bootstrapped)"]


def test_inspect_prints_the_record(store, ctx):
    build(store, ctx, DOCKERFILE, tags=["localhost/rec:1"])
    printed = json.loads(distill("inspect", "--build-record", "localhost/rec:1", root=store.root).stdout)
    assert printed == api.build_record(store, "localhost/rec:1")


def test_scratch_config_is_buildkits(store, tmp_path):
    """FROM scratch: the config BuildKit writes (checked with docker 20.10's BuildKit):
    the default PATH and WorkingDir /, and nothing else."""
    ctx = write_context(tmp_path / "ctx", {"f": "x"})
    _, _, image = build(store, ctx, "FROM scratch\nCOPY f /f\n")
    assert image.config["config"] == {"Env": [DEFAULT_PATH], "WorkingDir": "/"}


def test_a_base_without_path_gets_the_default(store, tmp_path):
    """An image whose config has no PATH (a root filesystem imported elsewhere): BuildKit
    adds the default PATH after its own Env, for RUN and in the image it writes."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        t.addfile(info)
    api.import_rootfs(store, io.BytesIO(buf.getvalue()), "localhost/noenv:1", env=["LANG=C"])
    assert lookup(store, "localhost/noenv:1").config["config"]["Env"] == ["LANG=C"]
    ctx = write_context(tmp_path / "ctx", {"f": "x"})
    _, _, image = build(store, ctx, "FROM localhost/noenv:1\nENV P=$PATH\nCOPY f /f\n")
    path = DEFAULT_PATH.split("=", 1)[1]
    assert image.config["config"]["Env"] == ["LANG=C", DEFAULT_PATH, f"P={path}"]
