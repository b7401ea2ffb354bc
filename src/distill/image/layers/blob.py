"""Layers as store blobs: a tree in, a verified blob out (one pass), and back."""

from __future__ import annotations

from distill.image.oci import mediatypes
from distill.errors import VerificationError
from distill.record import Record

# The applier and the codecs are imported when a layer is read or compressed: a rebuild
# that writes only a small uncompressed layer needs neither.
_MEDIA = {"gzip": mediatypes.OCI_LAYER_GZIP, "zstd": mediatypes.OCI_LAYER_ZSTD, "none": mediatypes.OCI_LAYER}

# Layers made on this machine (build steps, import, load, bootstrap) are stored
# uncompressed: most never leave it, and gzip would cost a build more than tarring and
# hashing together. They are compressed on the way out (push, OCI archives: distribute.py).
# Pulled layers stay as they came.
LOCAL_COMPRESSION = "none"


class Layer(Record):
    descriptor: dict  # mediaType, digest, size
    diff_id: str
    uncompressed_size: int


def layer_from(store, produce, compression: str = LOCAL_COMPRESSION, expected_diff_id: str | None = None,
               rows: list | None = None) -> Layer:
    """One pass: `produce(sink)` writes a tar into the sink, which hashes it (diffID),
    compresses it and feeds the store's blob writer (digest). A diffID other than
    `expected_diff_id` is refused before the blob is committed. Uncompressed, the blob is
    the tar: one hash serves as both. `rows`, which `produce` fills with the tar's table
    of contents, is kept as the layer's (toc.py): no scan of it is needed later."""
    plain = compression == "none"
    if not plain:
        from distill.image.layers.compress import CompressingSink
    with store.writer(expected_diff_id if plain else None) as blob:
        sink = _CountingSink(blob) if plain else CompressingSink(blob, compression)
        produce(sink)
        diff_id = sink.finish()
        if expected_diff_id is not None and diff_id is not None and diff_id != expected_diff_id:
            raise VerificationError(f"layer content has diffID {diff_id}, expected {expected_diff_id}")
        digest = blob.commit()
    diff_id = diff_id or digest
    if rows is not None:
        from distill.image.layers.toc import keep

        keep(store, diff_id, rows, sink.uncompressed_size)
    else:
        store.remember_layer(diff_id, size=sink.uncompressed_size)
    return Layer({"mediaType": _MEDIA[compression], "digest": digest, "size": blob.size}, diff_id, sink.uncompressed_size)


class _CountingSink:
    """The sink for an uncompressed layer: the blob writer's digest is the diffID."""

    def __init__(self, out):
        self._out = out
        self.uncompressed_size = 0

    def write(self, data) -> int:
        self._out.write(data)
        self.uncompressed_size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.uncompressed_size

    def finish(self) -> None:
        return None


def write_layer(store, tree: str, compression: str = LOCAL_COMPRESSION, overlay_upper: bool = False) -> Layer:
    """Tar `tree` (compressed as asked), hash it, and commit the blob to `store`."""
    from distill.image.layers.create import write_tree

    rows: list = []
    return layer_from(store, lambda sink: write_tree(tree, sink, overlay_upper=overlay_upper, rows=rows), compression,
                      rows=rows)


def import_tar(store, stream, compression: str = LOCAL_COMPRESSION, expected_diff_id: str | None = None) -> Layer:
    """A ready-made (uncompressed) tar stream becomes a layer blob."""

    def copy(sink):
        while chunk := stream.read(1 << 20):
            sink.write(chunk)

    return layer_from(store, copy, compression, expected_diff_id)


def verify_diff_id(store, descriptor: dict, diff_id: str) -> int:
    """Decompress a stored layer, check its diffID; returns the uncompressed size."""
    from distill.image.layers.compress import HashingReader, decompressed

    kind = mediatypes.compression(descriptor["mediaType"])
    with store.open_blob(descriptor["digest"]) as f:
        reader = HashingReader(decompressed(f, kind))
        reader.drain()
    if reader.digest != diff_id:
        raise VerificationError(f"layer {descriptor['digest']}: diffID is {reader.digest}, config says {diff_id}")
    store.remember_layer(diff_id, size=reader.size)
    return reader.size


def uncompressed_size(store, descriptor: dict, diff_id: str) -> int:
    """The size of a layer's tar: remembered, the blob itself, or measured once."""
    known = store.layer_facts(diff_id).get("size")
    if isinstance(known, int):
        return known
    if mediatypes.compression(descriptor["mediaType"]) == "none":
        return store.blob_size(descriptor["digest"])
    return verify_diff_id(store, descriptor, diff_id)


def apply_layer(store, descriptor: dict, dest: str, whiteouts: str = "delete"):
    """Unpack a stored layer into `dest`; returns the applier's ApplyStats."""
    from distill.image.layers.apply import apply_tar
    from distill.image.layers.compress import decompressed

    kind = mediatypes.compression(descriptor["mediaType"])
    with store.open_blob(descriptor["digest"]) as f:
        return apply_tar(decompressed(f, kind), dest, whiteouts=whiteouts)
