"""Push: blobs the registry lacks (mounted from a sibling repository when possible), then
the manifest by tag."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .. import digest as digests
from ..image import Image, from_descriptor
from ..layers.distribute import (
    gzip_form,
    needs_compressing,
    remembered,
    shipped_manifest,
)
from ..record import Record
from ..reference import Reference
from .client import Registry

PARALLEL_BLOBS = 4
CHUNK_THRESHOLD = 64 << 20  # larger blobs go up in PATCH chunks of this size


class Pushed(Record):
    digest: str
    uploaded: int
    mounted: int
    existing: int


def _mount_sources(store, domain: str, exclude: str) -> dict[str, str]:
    """blob digest → a repository on `domain` that the store knows holds it."""
    sources: dict[str, str] = {}
    for name, desc in store.tags():
        repo_part = name.split("@")[0]
        if "/" not in repo_part:
            continue
        domain_part, _, rest = repo_part.partition("/")
        path = rest.rsplit(":", 1)[0] if ":" in rest.split("/")[-1] else rest
        if domain_part != domain or path == exclude:
            continue
        try:
            img = from_descriptor(store, desc)
        except Exception:
            continue
        held = [img.config_digest] + [l["digest"] for l in img.layers]
        held += [k["digest"] for k in (remembered(store, i) for i in img.diff_ids) if k]  # pushed gzip forms
        for d in held:
            sources.setdefault(d, path)
    return sources


def push(store, reg: Registry, image: Image, dest: Reference, chunk_size: int = CHUNK_THRESHOLD,
         progress=None) -> Pushed:
    """Layers stored uncompressed go up as gzip (the manifest pushed then names the gzip
    forms, so its digest is not the local one, as with `docker push`)."""
    repo = dest.path
    sources = _mount_sources(store, dest.domain, repo)
    kinds: list[str] = []  # list.append is atomic across the pool's threads

    def note(d: dict, kind: str) -> dict:
        kinds.append(kind)
        if progress:
            progress(d, kind)
        return d

    def placed(digest: str) -> str | None:
        """How the registry comes to hold `digest` without an upload, if it can."""
        if reg.has_blob(repo, digest):
            return "existing"
        if digest in sources and reg.mount_blob(repo, digest, sources[digest]):
            return "mounted"
        return None

    def send(d: dict, size: int, opener) -> dict:
        kind = placed(d["digest"])
        if kind is None:
            reg.upload_blob(repo, d["digest"], size, opener, chunk_size)
            kind = "uploaded"
        return note(d, kind)

    def stored(d: dict) -> dict:
        return send(d, store.blob_size(d["digest"]), lambda: store.open_blob(d["digest"]))

    def send_layer(pair: tuple[dict, str]) -> dict:
        desc, diff_id = pair
        if not needs_compressing(desc):
            return stored(desc)
        known = remembered(store, diff_id)
        if known and (kind := placed(known["digest"])):
            return note(known, kind)
        with gzip_form(store, desc, diff_id) as (gz, opener):
            return send(gz, gz["size"], opener)

    with ThreadPoolExecutor(PARALLEL_BLOBS) as pool:
        config = pool.submit(stored, image.manifest["config"])
        layers = list(pool.map(send_layer, zip(image.layers, image.diff_ids)))
        config.result()
    data = shipped_manifest(store, image, layers)
    media = image.manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    reg.put_manifest(repo, dest.tag or dest.digest or "latest", data, media)
    return Pushed(digests.of_bytes(data), *(kinds.count(k) for k in ("uploaded", "mounted", "existing")))
