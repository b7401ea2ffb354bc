"""Image sources: one image and where its blobs are read, whatever holds it (source.py's
ImageSource and Blobs). `open_source` turns what a user typed into one:

  NAME or ID                 the store (a name it lacks is pulled from its registry)
  docker://REF               a registry, the blobs kept in the store, unnamed
  oci:DIR[:NAME]             an OCI layout directory, read in place
  oci-archive:PATH, docker-archive:PATH, or a file
                             an archive of one image, read in place (one it cannot read
                             in place, such as a compressed docker layer, is loaded)

Every analyser command and `export` take one; the shared build cache reads a registry
(registry.py) or a layout directory (layout.py) through the same interface."""

from __future__ import annotations

import os

from distill.errors import DistillError, NotFound
from distill.image.sources.source import Blobs, ImageSource, StoreBlobs
from distill.record import Record

__all__ = ["Blobs", "ImageSource", "Reach", "StoreBlobs", "open_source", "store_source"]


class Reach(Record):
    """How an image named on the command line is reached: the registries spoken to in
    plain HTTP, and the platform taken from an index of several (None: this machine's)."""
    insecure: tuple = ()
    platform: str | None = None

    def target(self):
        from distill.platform import parse

        return parse(self.platform) if self.platform else None


def open_source(store, text: str, reach: Reach = Reach(), in_place: bool = True) -> ImageSource:
    """The image `text` names. Blobs a registry (or an archive loaded) brings are kept in
    the store, unnamed, so a second look reads them there: hold store.writing() while
    reading them. `in_place=False` gives a source in the store (a build record's stages
    are found only there)."""
    platform, insecure = reach.target(), reach.insecure
    if text.startswith("oci:") and in_place:
        from distill.image.sources.layout import open_layout

        root, _, tag = text[len("oci:"):].partition(":")
        return open_layout(root, tag or None, platform)
    archive = archive_path(text)
    if archive is not None:
        if in_place:
            from distill.image.sources.archive import open_archive

            opened = open_archive(archive)
            if opened is not None:
                return opened
        return store_source(store, _loaded_archive(store, archive, platform))
    if text.startswith("docker://"):
        return store_source(store, _pulled(store, text[len("docker://"):], insecure, platform))
    from distill.image.store.images import lookup

    try:
        return store_source(store, lookup(store, text, platform))
    except NotFound:
        return store_source(store, _pulled(store, text, insecure, platform))


def store_source(store, image) -> ImageSource:
    return ImageSource(image.name or image.manifest_digest, image, StoreBlobs(store))


def archive_path(text: str) -> str | None:
    for prefix in ("oci-archive:", "docker-archive:"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text if os.path.isfile(text) else None


def _loaded_archive(store, path: str, platform=None):
    from distill.image.archive import load as load_archive
    from distill.image.store.images import from_descriptor

    found = load_archive(store, path, tag=False)
    if len(found) != 1:
        names = ", ".join(n or d["digest"] for n, d in found) or "none"
        raise DistillError(f"{path}: holds {len(found)} images ({names}); save one image to read it")
    name, desc = found[0]
    return from_descriptor(store, desc, name or path, platform)


def _pulled(store, text: str, insecure: tuple[str, ...], platform=None):
    from distill.image.oci import reference
    from distill.image.registry.client import connect
    from distill.image.registry.pull import fetch
    from distill.image.store.images import from_descriptor

    ref = reference.parse(text)
    try:
        with connect(ref.domain, insecure) as reg:
            desc, _, _ = fetch(store, reg, ref, platform)
    except DistillError as e:
        raise DistillError(f"{text}: not in the store, and its registry did not give it: {e}") from None
    return from_descriptor(store, desc, str(ref))

