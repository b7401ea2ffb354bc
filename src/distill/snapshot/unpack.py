"""Each layer is unpacked once into the store (ROOT/snapshots/<id>), in overlay form
(whiteouts as 0/0 devices, opaque xattrs), and shared by every build and run."""

from __future__ import annotations

import os
from pathlib import Path

from .. import digest as digests
from .. import mediatypes
from ..errors import VerificationError
from ..layers.apply import apply_tar
from ..layers.compress import HashingReader, decompressed
from ..store.atomic import remove_tree, temp_dir
from ..store.lock import locked

# Short directory names keep overlayfs mount options (a page at most) small enough for
# deep images: 16 hex digits per layer.
ID_LEN = 16


def snapshot_id(diff_id: str) -> str:
    return digests.split(diff_id)[1][:ID_LEN]


def snapshots_dir(store) -> Path:
    d = store.root / "snapshots"
    d.mkdir(exist_ok=True)
    return d


def unpacked(store, descriptor: dict, diff_id: str) -> Path:
    """The directory holding this layer's tree, unpacking it on first use (diffID verified)."""
    base = snapshots_dir(store)
    sid = snapshot_id(diff_id)
    final = base / sid
    if (base / f"{sid}.complete").exists():
        return final
    with locked(store.locks_dir / f"unpack-{sid}.lock"):
        if (base / f"{sid}.complete").exists():
            return final
        tmp = temp_dir(store.tmp_dir, f"unpack-{sid}-")
        try:
            kind = mediatypes.compression(descriptor["mediaType"])
            with store.open_blob(descriptor["digest"]) as f:
                reader = HashingReader(decompressed(f, kind))
                apply_tar(reader, tmp / "fs", whiteouts="overlay")
                reader.drain()
            if reader.digest != diff_id:
                raise VerificationError(f"layer {descriptor['digest']}: content has diffID {reader.digest}, "
                                        f"image says {diff_id}")
            if final.exists():  # left by an interrupted unpack
                remove_tree(final)
            os.rename(tmp / "fs", final)
            (base / f"{sid}.complete").touch()
            store.remember_layer(diff_id, size=reader.size)
        finally:
            remove_tree(tmp)
    return final


def adopt(store, diff_id: str, tree: Path, extra: dict[str, Path] | None = None) -> bool:
    """Make `tree` (already in overlay form) the snapshot of layer `diff_id`, with `extra`
    files beside it (suffix → file). False when the snapshot existed: the content is the
    same, and `tree` is left to the caller."""
    base = snapshots_dir(store)
    sid = snapshot_id(diff_id)
    with locked(store.locks_dir / f"unpack-{sid}.lock"):  # the lock unpacked() takes
        if (base / f"{sid}.complete").exists():
            return False
        try:
            for suffix, path in (extra or {}).items():
                os.replace(path, base / f"{sid}{suffix}")
            if (base / sid).exists():  # left by an interrupted unpack
                remove_tree(base / sid)
            os.rename(tree, base / sid)
        except OSError:
            return False
        (base / f"{sid}.complete").touch()
        return True


def empty_dir(store) -> Path:
    d = snapshots_dir(store) / "empty"
    d.mkdir(exist_ok=True)
    return d


def prune_snapshots(store, wanted_diff_ids: set[str]) -> int:
    """Remove unpacked layers no kept image or cache record uses. Returns how many."""
    base = snapshots_dir(store)
    keep = {snapshot_id(d) for d in wanted_diff_ids} | {"empty", "last"}
    removed = 0
    for p in base.iterdir():
        sid = p.name.removesuffix(".complete").removesuffix(".files")
        if sid in keep:
            continue
        if p.is_dir() and not p.is_symlink():
            (base / f"{sid}.complete").unlink(missing_ok=True)  # first: never a marker without its tree
            remove_tree(p)
            (base / f"{sid}.files").unlink(missing_ok=True)
            removed += 1
        elif p.name.endswith((".complete", ".files")) and not (base / sid).exists():
            p.unlink(missing_ok=True)
    for record in (base / "last").glob("*") if (base / "last").is_dir() else []:
        try:
            if not (base / f"{record.read_text().strip()}.complete").exists():
                record.unlink()
        except OSError:
            pass
    return removed
