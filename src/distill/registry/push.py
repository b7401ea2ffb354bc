"""Push: blobs the registry lacks (mounted from a sibling repository when possible), then
the manifest by tag."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..image import Image, from_descriptor
from ..reference import Reference
from .client import Registry

PARALLEL_BLOBS = 4
CHUNK_THRESHOLD = 64 << 20  # larger blobs go up in PATCH chunks of this size


@dataclass(frozen=True)
class Pushed:
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
        for d in [img.config_digest] + [l["digest"] for l in img.layers]:
            sources.setdefault(d, path)
    return sources


def push(store, reg: Registry, image: Image, dest: Reference, chunk_size: int = CHUNK_THRESHOLD,
         progress=None) -> Pushed:
    repo = dest.path
    blobs = [image.manifest["config"]] + image.layers
    sources = _mount_sources(store, dest.domain, repo)
    counts = {"uploaded": 0, "mounted": 0, "existing": 0}

    def send(d):
        digest = d["digest"]
        if reg.has_blob(repo, digest):
            kind = "existing"
        elif digest in sources and reg.mount_blob(repo, digest, sources[digest]):
            kind = "mounted"
        else:
            reg.upload_blob(repo, digest, store.blob_size(digest), lambda: store.open_blob(digest), chunk_size)
            kind = "uploaded"
        if progress:
            progress(d, kind)
        return kind

    with ThreadPoolExecutor(PARALLEL_BLOBS) as pool:
        for kind in pool.map(send, blobs):
            counts[kind] += 1
    data = store.read_blob(image.manifest_digest)
    media = image.manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    reg.put_manifest(repo, dest.tag or dest.digest or "latest", data, media)
    return Pushed(image.manifest_digest, **counts)
