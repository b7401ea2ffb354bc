"""An image source: an image (manifest, config, layers) and where its blobs are read.
Every kind (the store, an OCI layout directory, an archive read in place, a registry)
gives the same Blobs interface, so imagefs reads layers and the shared build cache
fetches them without knowing which it has."""

from __future__ import annotations

import os
from typing import BinaryIO

from distill.errors import DistillError
from distill.image.store.images import Image
from distill.image.layers.toc import layer_toc, scan
from distill.image.layers.unpack import is_unpacked
from distill.record import Record


class ImageSource(Record):
    name: str       # as the user named it
    image: Image
    blobs: "Blobs"


class Blobs:
    """A source's blobs by descriptor. Layers are read through: their tables of contents
    are made by one pass over the blob (kept in memory for this source's life), nothing
    is written to the store unless a caller fetches a blob into it."""

    name = "blobs"

    def __init__(self):
        self.sizes: dict[str, int] = {}  # digest → uncompressed size, of the layers read

    def has(self, digest: str) -> bool:
        raise NotImplementedError

    def open(self, desc: dict) -> BinaryIO:
        raise NotImplementedError

    def fetch(self, store, desc: dict) -> None:
        """The blob into `store`, checked against its digest and size."""
        with self.open(desc) as f:
            store.ingest(f, desc["digest"], desc["size"])

    def rows(self, desc: dict, diff_id: str) -> list[list]:
        with self.open(desc) as f:
            rows, self.sizes[desc["digest"]] = scan(f, desc, diff_id)
        return rows

    def uncompressed_size(self, desc: dict, diff_id: str) -> int:
        if desc["digest"] not in self.sizes:
            self.rows(desc, diff_id)
        return self.sizes[desc["digest"]]

    def unpacked(self, diff_id: str) -> bool:
        return False  # the store's snapshots are of its own verified layers

    def snapshot_file(self, diff_id: str, entry: str) -> str | None:
        return None


class StoreBlobs(Blobs):
    """Blobs as the store keeps them: tables of contents cached by diffID, and the
    unpacked snapshots of layers a build or run used."""

    name = "store"

    def __init__(self, store):
        super().__init__()
        self.store = store

    def has(self, digest: str) -> bool:
        return self.store.has_blob(digest)

    def open(self, desc: dict) -> BinaryIO:
        return self.store.open_blob(desc["digest"])

    def fetch(self, store, desc: dict) -> None:
        if store is not self.store:
            super().fetch(store, desc)

    def rows(self, desc: dict, diff_id: str) -> list[list]:
        return layer_toc(self.store, desc, diff_id)

    def uncompressed_size(self, desc: dict, diff_id: str) -> int:
        from distill.image.layers.blob import uncompressed_size

        return uncompressed_size(self.store, desc, diff_id)

    def unpacked(self, diff_id: str) -> bool:
        return is_unpacked(self.store, diff_id)

    def snapshot_file(self, diff_id: str, entry: str) -> str | None:
        """The file an entry became in the layer's unpacked snapshot, if the store has
        one: the entry's own path inside it, as each layer is unpacked into a directory
        of its own, where no lower layer's symlink redirects it."""
        if not is_unpacked(self.store, diff_id):
            return None
        from distill.fs.confined import resolve
        from distill.image.layers.unpack import snapshot_path

        try:
            host, _ = resolve(snapshot_path(self.store, diff_id), entry, follow_final=False, clamp=True)
        except DistillError:
            return None
        return host if os.path.isfile(host) and not os.path.islink(host) else None
