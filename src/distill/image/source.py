"""Where an image named on the command line comes from: the store, an archive (a file,
`oci-archive:PATH`, `docker-archive:PATH`, as skopeo names them) or a registry
(`docker://REF`, or a reference the store lacks); and its files through imagefs."""

from __future__ import annotations

import os

from distill.errors import DistillError, NotFound
from distill.image.oci import reference
from distill.image.store.images import from_descriptor, lookup


def image_fs(store, text: str, stage: str | None = None, insecure: tuple[str, ...] = ()):
    """(imagefs.ImageFS, imagefs.Attribution) of an image, or of one of its build's
    stages: its filesystem read from the layers, never unpacked. An archive of one image
    is read in place (imagefs/archive.py); blobs a registry (or an archive read otherwise)
    brings are kept in the store, unnamed, so a second look reads them there; hold
    store.writing() while reading them."""
    from distill.image.imagefs import open_image

    archive = archive_path(text)
    if archive is not None and stage is None:
        from distill.image.imagefs import Attribution, ImageFS
        from distill.image.imagefs.archive import open_archive

        opened = open_archive(archive)
        if opened is not None:
            image, blobs = opened
            return ImageFS(store, image.layers, image.diff_ids, image.config, image.name or archive, blobs), \
                Attribution(image, None)
    return open_image(store, source_image(store, text, insecure), stage)


def archive_path(text: str) -> str | None:
    for prefix in ("oci-archive:", "docker-archive:"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text if os.path.isfile(text) else None


def source_image(store, text: str, insecure: tuple[str, ...]):
    """The store's Image for `text`, an archive's or a registry's brought into the store."""
    archive = archive_path(text)
    if archive is not None:
        return _archive_image(store, archive)
    if text.startswith("docker://"):
        return _registry_image(store, text[len("docker://"):], insecure)
    try:
        return lookup(store, text)
    except NotFound:
        return _registry_image(store, text, insecure)


def _archive_image(store, path: str):
    from distill.image.archive import load as load_archive

    found = load_archive(store, path, tag=False)
    if len(found) != 1:
        names = ", ".join(n or d["digest"] for n, d in found) or "none"
        raise DistillError(f"{path}: holds {len(found)} images ({names}); save one image to read it")
    name, desc = found[0]
    return from_descriptor(store, desc, name or path)


def _registry_image(store, text: str, insecure: tuple[str, ...]):
    from distill.image.registry.client import connect
    from distill.image.registry.pull import fetch

    ref = reference.parse(text)
    try:
        with connect(ref.domain, insecure) as reg:
            desc, _, _ = fetch(store, reg, ref)
    except DistillError as e:
        raise DistillError(f"{text}: not in the store, and its registry did not give it: {e}") from None
    return from_descriptor(store, desc, str(ref))


def layer_sizes(fs) -> list[int]:
    """Each layer's uncompressed tar size, as docker counts an image's size."""
    return [fs.blobs.uncompressed_size(d, i) for d, i in zip(fs.layers, fs.diff_ids)]
