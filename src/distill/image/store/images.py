"""Images in the store: find one by name or ID, read its manifest and config, write one."""

from __future__ import annotations

import json
import re

from distill import digest as digests
from distill.image.oci import mediatypes, reference
from distill import platform as platforms
from distill.errors import DistillError, InvalidReference, NotFound
from distill.record import Record

_HEX_PREFIX = r"(sha256:)?[0-9a-f]{4,64}"  # an image ID or its prefix; compiled at first use


class Image(Record):
    name: str | None            # the store name it was found under, if any
    descriptor: dict            # of the top-level object (manifest or index)
    manifest_digest: str
    manifest: dict
    config_digest: str
    config: dict

    @property
    def layers(self) -> list[dict]:
        return self.manifest.get("layers") or []

    @property
    def diff_ids(self) -> list[str]:
        return (self.config.get("rootfs") or {}).get("diff_ids") or []

    @property
    def id(self) -> str:
        return self.config_digest


def canonical_json(doc: dict) -> bytes:
    # sorted keys: the same image always serializes to the same bytes, hence the same digest
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def oci_manifest(config_digest: str, config_size: int, layers: list[dict]) -> dict:
    """The OCI manifest of a config and layers (for an image that came without one: a
    docker archive's)."""
    return {"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layers}


def store_name(text: str) -> str:
    """The index name a user's reference is stored under (fully qualified)."""
    return str(reference.parse(text))


def _platform_manifest(read_json, descriptor: dict, platform, depth: int = 0) -> tuple[str, dict]:
    doc = read_json(descriptor["digest"])
    media = doc.get("mediaType") or descriptor.get("mediaType")
    if media in mediatypes.INDEXES or ("manifests" in doc and "layers" not in doc):
        if depth >= 2:  # an index of indexes of indexes is a loop or a trap
            raise DistillError(f"{descriptor['digest']}: indexes nested too deep")
        chosen = platforms.choose(doc.get("manifests") or [], platform or platforms.host())
        return _platform_manifest(read_json, chosen, platform, depth + 1)
    return descriptor["digest"], doc


def image_from(read_json, descriptor: dict, name: str | None = None, platform=None) -> Image:
    """The Image a descriptor names (an index resolved to `platform`'s manifest), its
    manifest and config read by `read_json(digest)`: the store's, or any source's."""
    from distill.documents import checked_descriptor

    manifest_digest, manifest = _platform_manifest(read_json, descriptor, platform)
    config_digest = checked_descriptor(manifest.get("config"), f"manifest {manifest_digest}")["digest"]
    return checked_image(name, descriptor, manifest_digest, manifest, config_digest, read_json(config_digest))


def checked_image(name: str | None, descriptor: dict, manifest_digest: str, manifest: dict, config_digest: str,
                  config: dict) -> Image:
    """The Image of documents read from anywhere, each field the code reads of its type
    (documents.py): what was dropped is said once, as a warning."""
    from distill.documents import clean_config, clean_manifest
    from distill.notices import warn

    config, notes = clean_config(config, f"image config {config_digest[:19]}")
    for note in notes:
        warn(note)
    return Image(name, descriptor, manifest_digest, clean_manifest(manifest, manifest_digest), config_digest, config)


def from_descriptor(store, descriptor: dict, name: str | None = None, platform=None) -> Image:
    return image_from(store.read_json, descriptor, name, platform)


def lookup(store, text: str, platform=None) -> Image:
    """An image by name (`python:3.11`, `localhost:5000/a@sha256:…`) or by ID prefix."""
    tags = store.tags()
    try:
        ref, bad = reference.parse(text), None
    except InvalidReference as e:
        ref, bad = None, e
    if ref is not None:
        name = str(ref)
        for n, desc in tags:
            if n == name:
                return from_descriptor(store, desc, n, platform)
        if ref.digest:
            for n, desc in tags:
                if desc["digest"] == ref.digest and n.split("@")[0].rsplit(":", 1)[0] == ref.repository:
                    return from_descriptor(store, desc, n, platform)
    if re.fullmatch(_HEX_PREFIX, text):
        want = text if text.startswith("sha256:") else f"sha256:{text}"
        matches = {}
        for n, desc in tags + [(None, d) for d in store.untagged()]:
            img = from_descriptor(store, desc, n, platform)
            if img.config_digest.startswith(want) or desc["digest"].startswith(want):
                matches.setdefault(img.config_digest, img)
        if len(matches) == 1:
            return next(iter(matches.values()))
        if len(matches) > 1:
            raise DistillError(f"image ID prefix {text!r} is ambiguous")
    if bad is not None:
        raise bad
    raise NotFound(f"no such image: {ref.familiar}")


def write_image(store, config: dict, layers: list[dict], annotations: dict | None = None) -> dict:
    """Store an OCI config and manifest; returns the manifest descriptor (not yet tagged)."""
    config_bytes = canonical_json(config)
    config_digest = store.write_blob(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layers,
    }
    if annotations:
        manifest["annotations"] = annotations
    manifest_bytes = canonical_json(manifest)
    digest = store.write_blob(manifest_bytes)
    return {"mediaType": mediatypes.OCI_MANIFEST, "digest": digest, "size": len(manifest_bytes)}


def write_index(store, images: list[tuple[dict, dict]]) -> dict:
    """Store an OCI image index of manifests (descriptor, platform as a dict); returns its
    descriptor (not yet tagged)."""
    doc = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
           "manifests": [{**{k: d[k] for k in ("mediaType", "digest", "size")}, "platform": plat}
                         for d, plat in images]}
    data = canonical_json(doc)
    return {"mediaType": mediatypes.OCI_INDEX, "digest": store.write_blob(data), "size": len(data)}


def untag(store, text: str) -> list[str]:
    """`rmi`: untag `text`; given an image ID, untag every name of that image. Returns the
    names removed."""
    img = lookup(store, text)
    try:
        by_name = store_name(text) == img.name
    except DistillError:
        by_name = False
    names = [img.name] if by_name else [n for n, d in store.tags()
                                        if from_descriptor(store, d).config_digest == img.config_digest]
    for n in names:
        store.remove_tag(n)
    if not by_name:
        for d in store.untagged():
            if from_descriptor(store, d).config_digest == img.config_digest:
                store.remove_untagged(d["digest"])
                names.append(f"<none>@{d['digest']}")
    return names
