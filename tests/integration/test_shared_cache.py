"""A build cache shared between machines (stores) through the real registry, a directory
and an image's own config: machine B takes every step machine A made from it without
running one and gets the same image; an edit reruns only what depends on it; a tampered
or missing layer is a miss with a warning, never a wrong image."""

import json
import shutil
from pathlib import Path

import pytest

from bed.images import DEMO_BASES, busybox_image, cached_base, example_context
from buildtools import steps
from clirun import distill
from distill.image.store.images import lookup
from distill.image.store import Store


def image_id(root, name) -> str:
    return lookup(Store(root), name).config_digest


def ran_steps(stderr: str) -> list[str]:
    return [t for t in steps(stderr)[0] if "[internal]" not in t]


def registry_blob(registry, digest: str) -> Path:
    hexpart = digest.split(":")[1]
    return Path(registry.log.name).parent / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexpart[:2] \
        / hexpart / "data"


def entries(store, layer: dict) -> dict:
    """A layer's entries: name → (type, mode, owner, size, link, mtime but a directory's)."""
    import tarfile

    with store.open_blob(layer["digest"]) as f, tarfile.open(fileobj=f, mode="r:*") as t:
        return {m.name: (m.type, m.mode, m.uid, m.gid, m.size, m.linkname, None if m.isdir() else m.mtime) for m in t}


def file_in(root, image: str, path: str, tmp: Path) -> str:
    out = tmp / "export.tar"
    distill("export", image, "-o", out, root=root)
    import tarfile

    with tarfile.open(out) as t:
        return t.extractfile(path.lstrip("/")).read().decode()


# ---- the Flask example, between two empty stores --------------------------------------------
@pytest.fixture(scope="module")
def flask(registry, tmp_path_factory):
    """Machine A: an empty store that pulls the demo's bases from the registry, builds the
    Flask example and shares its cache (mode=max) in the registry."""
    work = tmp_path_factory.mktemp("shared-cache-flask")
    seed = Store(work / "seed")
    args = []
    for name, packages in DEMO_BASES.items():
        cached_base(seed, name, packages)
        remote = f"{registry.host}/{name.split('/', 1)[1]}"
        distill("push", name, remote, root=seed.root)
        args += ["--build-arg", f"{'BUILD_BASE' if 'build' in name else 'RUN_BASE'}={remote}"]
    ctx = example_context("flask", work / "flask")
    ref = f"{registry.host}/cache/flask:buildcache"
    a = distill("build", "--progress", "plain", *args, "--cache-to", f"type=registry,ref={ref},mode=max",
                "-t", "flask:a", ctx, root=work / "A")
    assert any(t.startswith("[builder") and "RUN python3 -m venv" in t for t in ran_steps(a.stderr))
    return work, ctx, args, ref


def test_machine_b_runs_no_step_and_gets_the_same_image(flask, tmp_path):
    work, ctx, args, ref = flask
    b_root = tmp_path / "B"
    b = distill("build", "--progress", "plain", *args, "--cache-from", f"type=registry,ref={ref}", "-t", "flask:b",
                ctx, root=b_root)
    assert ran_steps(b.stderr) == []
    assert any("RUN python3 -m venv" in t for t in steps(b.stderr)[1])
    assert image_id(b_root, "flask:b") == image_id(work / "A", "flask:a")
    # lazily: the builder stage's layers (the venv build, the wheelhouse) were never fetched
    builder_layers = {r["layer"]["digest"] for r in _cache_records(ref) if r["layer"]}
    final = {layer["digest"] for layer in lookup(Store(b_root), "flask:b").layers}
    assert builder_layers - final and not any(Store(b_root).has_blob(d) for d in builder_layers - final)
    assert distill("fsck", root=b_root).returncode == 0
    # what B built is the app: its venv imports flask
    assert "from flask import Flask" in file_in(b_root, "flask:b", "/app/app.py", tmp_path)


def _cache_records(ref: str) -> list[dict]:
    """The shared cache's step records as decoded (their layers named by descriptor)."""
    from distill.build.cache.remote import load_source
    from distill.build.cache.spec import parse_cache

    return list(load_source(parse_cache(ref, "--cache-from"), ()).steps.values())


def test_an_edit_on_b_reruns_only_the_step_that_depends_on_it(flask, tmp_path):
    work, ctx, args, ref = flask
    edited = tmp_path / "flask"
    shutil.copytree(ctx, edited)
    app = edited / "app.py"
    app.write_text(app.read_text().replace("Hello, World!", "Hello, B!"))
    b_root = tmp_path / "B"
    b = distill("build", "--progress", "plain", *args, "--cache-from", ref, "-t", "flask:b", edited, root=b_root)
    assert ran_steps(b.stderr) == ["[stage-1 4/4] COPY app.py ."]
    assert "Hello, B!" in file_in(b_root, "flask:b", "/app/app.py", tmp_path)


def test_a_tampered_layer_is_rejected_and_its_step_built(flask, registry, tmp_path):
    """A byte of the venv layer changed in the registry's storage (same size, so the
    registry serves it): B refuses it, says so, copies the venv itself, and the image
    holds the venv A built."""
    work, ctx, args, ref = flask
    store_a = Store(work / "A")
    image_a = lookup(store_a, "flask:a")
    venv = next(r for r in _cache_records(ref) if r.get("copies") and r["copies"]["from"].get("stage") == 0)
    blob = registry_blob(registry, venv["layer"]["digest"])
    original = blob.read_bytes()
    try:
        data = bytearray(original)
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
        b_root = tmp_path / "B"
        b = distill("build", "--progress", "plain", *args, "--cache-from", ref, "-t", "flask:b", ctx, root=b_root)
    finally:
        blob.write_bytes(original)
    assert f"layer {venv['layer']['digest']}" in b.stderr and "building the steps that made them" in b.stderr
    assert ran_steps(b.stderr) == ["[stage-1 3/4] COPY --from=builder /opt/venv /opt/venv"]
    image_b = lookup(Store(b_root), "flask:b")
    # the venv copied again: the same files (a directory the copy makes is dated by it)
    assert entries(store_a, image_a.layers[2]) == entries(Store(b_root), image_b.layers[2])
    assert image_b.diff_ids[:2] + image_b.diff_ids[3:] == image_a.diff_ids[:2] + image_a.diff_ids[3:]
    assert distill("fsck", root=b_root).returncode == 0


# ---- a directory and inline, on a small image -------------------------------------------------
@pytest.fixture
def small(registry, tmp_path):
    seed = Store(tmp_path / "seed")
    busybox_image(seed, "busybox:test", tmp_path / "bb")
    base = f"{registry.host}/base/busybox:{tmp_path.name[-20:].lower().strip('_') or 'x'}"
    distill("push", "busybox:test", base, root=seed.root)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("v1\n")
    (ctx / "Dockerfile").write_text(f"FROM {base} AS build\nRUN echo built > /out && echo left > /left\n"
                                    f"FROM {base}\nCOPY --from=build /out /out\nCOPY app.txt /app.txt\n")
    return ctx


def test_a_directory_cache_carries_every_step(small, tmp_path):
    cache = tmp_path / "cache"
    distill("build", "--cache-to", f"type=local,dest={cache},mode=max", "-t", "small:a", small, root=tmp_path / "A")
    index = json.loads((cache / "index.json").read_text())
    assert index["manifests"][0]["artifactType"] == "application/vnd.distill.build-cache.v1+json"
    b = distill("build", "--progress", "plain", "--cache-from", f"type=local,src={cache}", "-t", "small:b", small,
                root=tmp_path / "B")
    assert ran_steps(b.stderr) == [] and len(steps(b.stderr)[1]) == 3
    assert image_id(tmp_path / "B", "small:b") == image_id(tmp_path / "A", "small:a")


def test_a_missing_layer_is_a_miss_with_a_warning(small, tmp_path):
    cache = tmp_path / "cache"
    distill("build", "--cache-to", f"type=local,dest={cache},mode=max", "-t", "small:a", small, root=tmp_path / "A")
    a = lookup(Store(tmp_path / "A"), "small:a")
    last = a.layers[-1]["digest"]  # COPY app.txt's
    (cache / "blobs" / "sha256" / last.split(":")[1]).unlink()
    b = distill("build", "--progress", "plain", "--cache-from", f"type=local,src={cache}", "-t", "small:b", small,
                root=tmp_path / "B")
    assert f"layer {last} is missing" in b.stderr
    assert ran_steps(b.stderr) == ["[stage-1 3/3] COPY app.txt /app.txt"]
    assert lookup(Store(tmp_path / "B"), "small:b").diff_ids == a.diff_ids


def test_an_inline_cache_travels_in_the_pushed_image(small, registry, tmp_path):
    """type=inline: the image's config carries the steps of every stage, and the layers of
    its own (mode=min); pushed, it is a cache for the next machine, which runs nothing:
    the builder's RUN is keyed, never needed."""
    ref = f"{registry.host}/inline/small:{tmp_path.name[-20:].lower().strip('_') or 'x'}"
    distill("build", "--cache-to", "type=inline", "-t", ref, "-o", "type=registry", small, root=tmp_path / "A")
    b = distill("build", "--progress", "plain", "--cache-from", ref, "-t", "small:b", small, root=tmp_path / "B")
    assert ran_steps(b.stderr) == [] and len(steps(b.stderr)[1]) == 3
    # the same files; the configs differ by the cache A's carries
    assert lookup(Store(tmp_path / "B"), "small:b").diff_ids == lookup(Store(tmp_path / "A"), ref).diff_ids


def test_min_mode_makes_a_builder_layer_it_did_not_ship_when_a_step_needs_its_files(small, registry, tmp_path):
    ref = f"{registry.host}/cache/min:{tmp_path.name[-20:].lower().strip('_') or 'x'}"
    distill("build", "--cache-to", f"type=registry,ref={ref}", "-t", "small:a", small, root=tmp_path / "A")
    dockerfile = small / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "COPY --from=build /left /left\n")
    b = distill("build", "--progress", "plain", "--cache-from", ref, "-t", "small:b", small, root=tmp_path / "B")
    assert "did not ship (mode=min) are needed" in b.stderr
    assert ran_steps(b.stderr) == ["[build 2/2] RUN echo built > /out && echo left > /left",
                                   "[stage-1 4/4] COPY --from=build /left /left"]
    assert file_in(tmp_path / "B", "small:b", "/left", tmp_path) == "left\n"
    assert lookup(Store(tmp_path / "B"), "small:b").diff_ids[:-1] == lookup(Store(tmp_path / "A"), "small:a").diff_ids


def test_an_unreadable_cache_is_a_warning_and_a_bad_spec_an_error(small, registry, tmp_path):
    b = distill("build", "--progress", "plain", "--cache-from", f"{registry.host}/nothing/here:x", "-t", "small:b",
                small, root=tmp_path / "B")
    assert "not found; building without it" in b.stderr
    bad = distill("build", "--cache-to", "type=registry", small, root=tmp_path / "B", check=False)
    assert bad.returncode != 0 and "type=registry needs ref=REF" in bad.stderr and "Traceback" not in bad.stderr


def test_a_machine_passes_on_what_it_took_without_fetching_it(small, registry, tmp_path):
    """B builds from A's cache and shares its own (another repository, mode=max): the
    builder's layer B never needed is mounted across in the registry, not fetched; C
    builds from B's cache running nothing."""
    tag = tmp_path.name[-20:].lower().strip("_") or "x"
    first, second = f"{registry.host}/cache/one:{tag}", f"{registry.host}/cache/two:{tag}"
    distill("build", "--cache-to", f"type=registry,ref={first},mode=max", "-t", "small:a", small, root=tmp_path / "A")
    distill("build", "--cache-from", first, "--cache-to", f"type=registry,ref={second},mode=max", "-t", "small:b",
            small, root=tmp_path / "B")
    shipped = set(lookup(Store(tmp_path / "A"), "small:a").diff_ids)  # not the builder's RUN layer
    taken = {r["layer"]["digest"] for r in _cache_records(second) if r["layer"] and r["diff_id"] not in shipped}
    assert taken and not any(Store(tmp_path / "B").has_blob(d) for d in taken)
    c = distill("build", "--progress", "plain", "--cache-from", second, "-t", "small:c", small, root=tmp_path / "C")
    assert ran_steps(c.stderr) == [] and len(steps(c.stderr)[1]) == 3
    assert image_id(tmp_path / "C", "small:c") == image_id(tmp_path / "A", "small:a")


def test_credentials_as_for_push_and_pull(small, token_registry, tmp_path):
    """A cache in a registry that wants a password: the docker config's credentials are
    used; without them the cache is a warning and the build goes on without it."""
    import base64

    conf = tmp_path / "docker"
    conf.mkdir()
    (conf / "config.json").write_text(json.dumps(
        {"auths": {token_registry.host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    ref = f"{token_registry.host}/team/cache:{tmp_path.name[-20:].lower().strip('_') or 'x'}"
    with_creds = {"DOCKER_CONFIG": str(conf)}
    distill("build", "--cache-to", f"type=registry,ref={ref},mode=max", "-t", "small:a", small, root=tmp_path / "A",
            env=with_creds)
    b = distill("build", "--progress", "plain", "--cache-from", ref, "-t", "small:b", small, root=tmp_path / "B",
                env=with_creds)
    assert ran_steps(b.stderr) == []
    c = distill("build", "--progress", "plain", "--cache-from", ref, "-t", "small:c", small, root=tmp_path / "C",
                env={"DOCKER_CONFIG": str(tmp_path / "none")})
    assert "cannot be used" in c.stderr and "authentication failed" in c.stderr
    assert len(ran_steps(c.stderr)) == 3
