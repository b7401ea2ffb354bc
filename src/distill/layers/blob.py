"""Layers as store blobs: a tree in, a verified compressed blob out (one pass), and back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import mediatypes
from ..errors import VerificationError
from .apply import ApplyStats, apply_tar
from .compress import CompressingSink, HashingReader, decompressed
from .create import write_tree

_MEDIA = {"gzip": mediatypes.OCI_LAYER_GZIP, "zstd": mediatypes.OCI_LAYER_ZSTD, "none": mediatypes.OCI_LAYER}


@dataclass(frozen=True)
class Layer:
    descriptor: dict  # mediaType, digest, size
    diff_id: str
    uncompressed_size: int


def write_layer(store, tree: Path | str, compression: str = "gzip", overlay_upper: bool = False) -> Layer:
    """Tar `tree`, compress, hash tar and blob, and commit the blob to `store`."""
    with store.writer() as blob:
        sink = CompressingSink(blob, compression)
        write_tree(tree, sink, overlay_upper=overlay_upper)
        diff_id = sink.finish()
        digest = blob.commit()
    return Layer({"mediaType": _MEDIA[compression], "digest": digest, "size": blob.size}, diff_id, sink.uncompressed_size)


def import_tar(store, stream, compression: str = "gzip") -> Layer:
    """A ready-made (uncompressed) tar stream becomes a compressed layer blob."""
    with store.writer() as blob:
        sink = CompressingSink(blob, compression)
        while chunk := stream.read(1 << 20):
            sink.write(chunk)
        diff_id = sink.finish()
        digest = blob.commit()
    return Layer({"mediaType": _MEDIA[compression], "digest": digest, "size": blob.size}, diff_id, sink.uncompressed_size)


def verify_diff_id(store, descriptor: dict, diff_id: str) -> int:
    """Decompress a stored layer, check its diffID; returns the uncompressed size."""
    kind = mediatypes.compression(descriptor["mediaType"])
    with store.open_blob(descriptor["digest"]) as f:
        reader = HashingReader(decompressed(f, kind))
        reader.drain()
    if reader.digest != diff_id:
        raise VerificationError(f"layer {descriptor['digest']}: diffID is {reader.digest}, config says {diff_id}")
    return reader.size


def apply_layer(store, descriptor: dict, dest: Path | str, whiteouts: str = "delete") -> ApplyStats:
    kind = mediatypes.compression(descriptor["mediaType"])
    with store.open_blob(descriptor["digest"]) as f:
        return apply_tar(decompressed(f, kind), dest, whiteouts=whiteouts)
