"""Each layer is unpacked once into the store (ROOT/snapshots/<id>), in overlay form
(whiteouts as 0/0 devices, opaque xattrs), and shared by every build and run."""

from __future__ import annotations

import os

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.errors import VerificationError
from distill.fs.files import list_dir, read_text, touch, unlink
from distill.fs.atomic import remove_tree, temp_dir
from distill.fs.lock import locked

# Short directory names keep overlayfs mount options (a page at most) small enough for
# deep images: 16 hex digits per layer.
ID_LEN = 16


def snapshot_id(diff_id: str) -> str:
    return digests.split(diff_id)[1][:ID_LEN]


def snapshots_dir(store) -> str:
    d = store.path("snapshots")
    os.makedirs(d, exist_ok=True)
    return d


def is_unpacked(store, diff_id: str) -> bool:
    """Whether the store holds this layer's snapshot, complete (no unpack needed)."""
    return os.path.exists(os.path.join(snapshots_dir(store), snapshot_id(diff_id) + ".complete"))


def unpacked(store, descriptor: dict, diff_id: str) -> str:
    """The directory holding this layer's tree, unpacking it on first use (diffID verified)."""
    base = snapshots_dir(store)
    sid = snapshot_id(diff_id)
    final = os.path.join(base, sid)
    marker = final + ".complete"
    if os.path.exists(marker):
        return final
    with locked(store.path("locks", f"unpack-{sid}.lock")):
        if os.path.exists(marker):
            return final
        from distill.image.layers.apply import Applier  # only when unpacking: a rebuild seldom does
        from distill.image.layers.compress import HashingReader, decompressed

        tmp = temp_dir(store.tmp_dir, f"unpack-{sid}-")
        try:
            kind = mediatypes.compression(descriptor["mediaType"])
            with store.open_blob(descriptor["digest"]) as f:
                reader = HashingReader(decompressed(f, kind))
                # a new empty directory: a name is looked at only when creating it fails
                Applier(os.path.join(tmp, "fs"), whiteouts="overlay", fresh=True).apply(reader)
                reader.drain()
            if reader.digest != diff_id:
                raise VerificationError(f"layer {descriptor['digest']}: content has diffID {reader.digest}, "
                                        f"image says {diff_id}")
            if os.path.exists(final):  # left by an interrupted unpack
                remove_tree(final)
            os.rename(os.path.join(tmp, "fs"), final)
            touch(marker)
            store.remember_layer(diff_id, size=reader.size)
        finally:
            remove_tree(tmp)
    return final


def adopt(store, diff_id: str, tree: str, extra: dict[str, str] | None = None) -> bool:
    """Make `tree` (already in overlay form) the snapshot of layer `diff_id`, with `extra`
    files beside it (suffix → file). False when the snapshot existed: the content is the
    same, and `tree` is left to the caller."""
    sid = snapshot_id(diff_id)
    final = os.path.join(snapshots_dir(store), sid)
    with locked(store.path("locks", f"unpack-{sid}.lock")):  # the lock unpacked() takes
        if os.path.exists(final + ".complete"):
            return False
        try:
            for suffix, path in (extra or {}).items():
                os.replace(path, final + suffix)
            if os.path.exists(final):  # left by an interrupted unpack
                remove_tree(final)
            os.rename(tree, final)
        except OSError:
            return False
        touch(final + ".complete")
        return True


def empty_dir(store) -> str:
    d = os.path.join(snapshots_dir(store), "empty")
    os.makedirs(d, exist_ok=True)
    return d


def prune_snapshots(store, wanted_diff_ids: set[str]) -> int:
    """Remove unpacked layers no kept image or cache record uses. Returns how many."""
    base = snapshots_dir(store)
    keep = {snapshot_id(d) for d in wanted_diff_ids} | {"empty", "last"}
    removed = 0
    for name in os.listdir(base):
        p = os.path.join(base, name)
        sid = name.removesuffix(".complete").removesuffix(".files")
        if sid in keep:
            continue
        tree = os.path.join(base, sid)
        if os.path.isdir(p) and not os.path.islink(p):
            unlink(tree + ".complete")  # first: never a marker without its tree
            remove_tree(p)
            unlink(tree + ".files")
            removed += 1
        elif name.endswith((".complete", ".files")) and not os.path.exists(tree):
            unlink(p)
    for record in list_dir(os.path.join(base, "last")):
        try:
            if not os.path.exists(os.path.join(base, f"{read_text(record).strip()}.complete")):
                os.unlink(record)
        except OSError:
            pass
    return removed
