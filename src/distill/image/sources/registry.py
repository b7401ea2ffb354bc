"""An image in a registry read without pulling it: its manifest and config fetched into
memory and checked, each blob fetched when asked (into a store, or a spool file to read)."""

from __future__ import annotations

import io
import tempfile
from typing import BinaryIO

from distill.errors import VerificationError
from distill.image.sources.source import Blobs, ImageSource
from distill.image.store.images import checked_image

JSON_MAX = 64 << 20


class RegistryBlobs(Blobs):
    name = "registry"

    def __init__(self, ref, insecure: tuple[str, ...]):
        super().__init__()
        self.ref, self.insecure = ref, insecure

    def _connect(self):
        from distill.image.registry.client import connect

        return connect(self.ref.domain, self.insecure)

    def has(self, digest: str) -> bool:
        with self._connect() as reg:
            return reg.has_blob(self.ref.path, digest)

    def fetch(self, store, desc: dict) -> None:
        from distill.image.registry.pull import fetch_blob

        with self._connect() as reg:
            fetch_blob(store, reg, self.ref.path, desc)

    def open(self, desc: dict) -> BinaryIO:
        return self._fetch_into(tempfile.TemporaryFile(), desc)

    def _fetch_into(self, sink, desc: dict):
        from distill.image.registry.pull import Verifying

        with self._connect() as reg:
            writer = Verifying(sink, desc["digest"], desc["size"])
            reg.fetch_blob(self.ref.path, desc["digest"], desc["size"], writer)
        return writer.finish()


def open_registry(text: str, insecure: tuple[str, ...], platform=None, limit: int = JSON_MAX) -> ImageSource:
    """The image `text` names (an index resolved to `platform`'s), nothing stored."""
    from distill.image.oci import reference
    from distill.documents import checked_descriptor
    from distill.documents import parse_object
    from distill.image.registry.pull import manifest_of

    ref = reference.parse(text)
    blobs = RegistryBlobs(ref, insecure)
    with blobs._connect() as reg:
        data, media, digest, manifest = manifest_of(reg, ref, platform)
    config = checked_descriptor(manifest.get("config"), f"manifest {ref}")
    if config["size"] > limit:
        raise VerificationError(f"its config of {config['size']} bytes is larger than {limit}")
    config_doc = parse_object(blobs._fetch_into(io.BytesIO(), config).read(), "its config")
    descriptor = {"mediaType": media, "digest": digest, "size": len(data)}
    return ImageSource(str(ref), checked_image(str(ref), descriptor, digest, manifest, config["digest"], config_doc), blobs)
