"""A RUN's overlay is mounted volatile (its unmount does not sync the whole filesystem),
so a snapshot is trusted only in the boot that made it until it is synced: one from
another boot is made again from its layer, fsck names it, and a later build syncs and
marks what the kernel has had time to write back."""

import os

from bed.images import copy_image
from buildtools import BUSYBOX, build, tree
from clirun import distill
from distill.fs import boot_id
from distill.image.layers.unpack import SYNCED, confirm_snapshots, is_unpacked, snapshot_path, unpacked

TEXT = f"FROM {BUSYBOX}\nRUN grep ' / / ' /proc/self/mountinfo > /mounts && echo made > /made\n"


def _built(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    _, _, image = build(store, None, TEXT, tags=["localhost/sync:1"])
    return image


def _marker(store, diff_id: str) -> str:
    with open(snapshot_path(store, diff_id) + ".complete") as f:
        return f.read()


def test_a_run_writes_on_a_volatile_overlay(store, busybox_store, tmp_path):
    image = _built(store, busybox_store)
    mounts = (tree(store, image, tmp_path / "fs") / "mounts").read_text()
    assert mounts.split(" - ")[1].startswith("overlay "), mounts  # the container's root, as it saw it
    options = mounts.split(" - ")[1].strip().split(",")
    assert "volatile" in options or "fsync=volatile" in options, mounts  # as Linux 5.10 / 6.x show it
    assert _marker(store, image.diff_ids[-1]) == boot_id()  # not synced yet: this boot's


def test_a_snapshot_of_another_boot_is_made_again_from_its_layer(store, busybox_store):
    image = _built(store, busybox_store)
    diff_id, descriptor = image.diff_ids[-1], image.layers[-1]
    root = snapshot_path(store, diff_id)
    with open(root + ".complete", "w") as f:  # made before a crash: what it holds may be torn
        f.write("00000000-0000-0000-0000-000000000000")
    with open(os.path.join(root, "made"), "w"):
        pass
    assert not is_unpacked(store, diff_id)
    r = distill("fsck", root=store.root, check=False)
    assert r.returncode == 1
    assert f"snapshot {os.path.basename(root)}: made before the machine restarted and never synced" in r.stdout

    assert unpacked(store, descriptor, diff_id) == root
    with open(os.path.join(root, "made")) as f:
        assert f.read() == "made\n"
    assert _marker(store, diff_id) == boot_id() and is_unpacked(store, diff_id)
    assert distill("fsck", root=store.root, check=False).returncode == 0


def test_snapshots_written_back_are_synced_and_marked(store, busybox_store):
    image = _built(store, busybox_store)
    diff_id = image.diff_ids[-1]
    assert confirm_snapshots(store) == 0  # younger than the kernel's writeback: left alone
    assert _marker(store, diff_id) == boot_id()
    assert confirm_snapshots(store, age=0) >= 1
    assert _marker(store, diff_id) == SYNCED and is_unpacked(store, diff_id)
    for empty in ("", "torn"):  # a marker of no boot, or a torn one: not a snapshot
        with open(snapshot_path(store, diff_id) + ".complete", "w") as f:
            f.write(empty)
        assert not is_unpacked(store, diff_id)
