"""distill fsck on a real store: sound after builds; each kind of damage found in one line;
--repair removes only what is broken, and the next build succeeds."""

import json
import os

import pytest

from bed.images import copy_image
from buildtools import BUSYBOX, build
from clirun import distill
from distill.image.store.images import lookup
from distill.image.layers.unpack import snapshots_dir

TEXT = f"FROM {BUSYBOX}\nRUN echo made > /made && head -c 5000 /dev/zero > /zeros\n"


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    build(store, None, TEXT, tags=["localhost/fsck:1"])
    return store


def fsck(store, *args):
    return distill("fsck", *args, root=store.root, check=False)


def test_a_store_after_builds_is_sound(store):
    r = fsck(store)
    assert (r.returncode, r.stdout) == (0, "the store is sound\n")


def test_damage_is_found_and_repaired(store):
    image = lookup(store, "localhost/fsck:1")
    layer = image.layers[-1]["digest"]
    with open(store.blob_path(layer), "r+b") as f:  # a byte flipped in the RUN's layer
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    stray = os.path.join(store.blobs_dir, "sha256", "not-a-digest")
    open(stray, "w").close()
    half = os.path.join(snapshots_dir(store), "f" * 32)  # an unpack a kill interrupted
    os.makedirs(os.path.join(half, "usr"))
    records = os.path.join(store.root, "cache", "steps")
    broken_record = os.path.join(records, "0" * 64 + ".json")
    with open(broken_record, "w") as f:
        json.dump({"layer": {"digest": "sha256:" + "1" * 64}}, f)
    busybox_blobs = {d["digest"] for d in lookup(store, BUSYBOX).layers}

    r = fsck(store)
    lines = r.stdout.splitlines()
    assert r.returncode == 1
    assert f"blob {layer}: its content has digest sha256:" in r.stdout
    assert any(l.startswith("image localhost/fsck:1: 1 blob missing or damaged") for l in lines)
    assert "blob sha256:not-a-digest: not a blob's name" in lines
    assert f"snapshot {'f' * 32}: unpacked only in part (no completion marker)" in lines
    assert f"cache record {'0' * 64}: unreadable, or its layer is missing" in lines
    assert not any(BUSYBOX in l for l in lines)  # the sound image is not named

    r = fsck(store, "--repair")
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "the store is sound now", r.stdout
    assert not os.path.exists(store.blob_path(layer)) and not os.path.exists(stray) and not os.path.exists(half)
    assert not os.path.exists(broken_record)
    assert all(store.has_blob(d) for d in busybox_blobs)  # never a sound object
    assert distill("images", "-q", root=store.root).stdout.count("\n") == 1  # busybox stays, the broken name went
    # the next build makes the image again
    build(store, None, TEXT, tags=["localhost/fsck:1"])
    assert fsck(store).returncode == 0
