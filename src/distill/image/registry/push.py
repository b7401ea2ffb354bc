"""Push: blobs the registry lacks (mounted from a sibling repository when possible), then
the manifest by tag."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from distill import digest as digests
from distill.errors import DistillError
from distill.image.oci import mediatypes
from distill.image.store.images import Image, from_descriptor
from distill.image.layers.distribute import gzip_form, needs_compressing, remembered, shipped_manifest
from distill.record import Record
from distill.image.oci.reference import Reference
from distill.image.registry.client import Registry

PARALLEL_BLOBS = 4
DOCKER_TYPES = {mediatypes.OCI_MANIFEST: mediatypes.DOCKER_MANIFEST, mediatypes.DOCKER_MANIFEST: mediatypes.DOCKER_MANIFEST,
                mediatypes.OCI_CONFIG: mediatypes.DOCKER_CONFIG, mediatypes.DOCKER_CONFIG: mediatypes.DOCKER_CONFIG,
                mediatypes.OCI_LAYER_GZIP: mediatypes.DOCKER_LAYER_GZIP,
                mediatypes.DOCKER_LAYER_GZIP: mediatypes.DOCKER_LAYER_GZIP,
                mediatypes.OCI_INDEX: mediatypes.DOCKER_LIST, mediatypes.DOCKER_LIST: mediatypes.DOCKER_LIST}
CHUNK_THRESHOLD = 64 << 20  # larger blobs go up in PATCH chunks of this size


class Pushed(Record):
    digest: str
    uploaded: int
    mounted: int
    existing: int
    size: int = 0
    media_type: str = ""


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


class Sender:
    """Blobs into one repository: each placed without an upload when the registry has it
    or can mount it from a sibling repository, else uploaded; layers stored uncompressed
    go as gzip (the gzip form's digest remembered, so a later push asks for it first)."""

    def __init__(self, store, reg: Registry, repo: str, chunk_size: int = CHUNK_THRESHOLD, progress=None):
        self.store, self.reg, self.repo, self.chunk_size, self.progress = store, reg, repo, chunk_size, progress
        self.sources = _mount_sources(store, reg.domain, repo)
        self.kinds: list[str] = []  # list.append is atomic across a pool's threads

    def note(self, d: dict, kind: str) -> dict:
        self.kinds.append(kind)
        if self.progress:
            self.progress(d, kind)
        return d

    def placed(self, digest: str, source_repo: str | None = None) -> str | None:
        """How the registry comes to hold `digest` without an upload, if it can."""
        if self.reg.has_blob(self.repo, digest):
            return "existing"
        source_repo = source_repo or self.sources.get(digest)
        if source_repo and source_repo != self.repo and self.reg.mount_blob(self.repo, digest, source_repo):
            return "mounted"
        return None

    def send(self, d: dict, size: int, opener) -> dict:
        kind = self.placed(d["digest"])
        if kind is None:
            self.reg.upload_blob(self.repo, d["digest"], size, opener, self.chunk_size)
            kind = "uploaded"
        return self.note(d, kind)

    def stored(self, d: dict) -> dict:
        return self.send(d, self.store.blob_size(d["digest"]), lambda: self.store.open_blob(d["digest"]))

    def data(self, d: dict, data: bytes) -> dict:
        import io

        return self.send(d, len(data), lambda: io.BytesIO(data))

    def layer(self, pair: tuple[dict, str]) -> dict:
        """A stored layer (descriptor, diffID); returns the descriptor sent."""
        desc, diff_id = pair
        if not needs_compressing(desc):
            return self.stored(desc)
        known = remembered(self.store, diff_id)
        if known and (kind := self.placed(known["digest"])):
            return self.note(known, kind)
        with gzip_form(self.store, desc, diff_id) as (gz, opener):
            return self.send(gz, gz["size"], opener)

    def counts(self) -> tuple[int, int, int]:
        return tuple(self.kinds.count(k) for k in ("uploaded", "mounted", "existing"))


def docker_form(doc: dict) -> dict:
    """A manifest or index in docker's media types (BuildKit's oci-mediatypes=false);
    what docker's have no name for (zstd layers) is refused."""
    def convert(d: dict) -> dict:
        media = d.get("mediaType")
        if media not in DOCKER_TYPES:
            raise DistillError(f"{d.get('digest', 'a manifest')}: {media} has no docker media type")
        return {**d, "mediaType": DOCKER_TYPES[media]}

    out = convert(doc)
    for key in ("layers", "manifests"):
        if key in doc:
            out[key] = [convert(d) for d in doc[key]]
    if "config" in doc:
        out["config"] = convert(doc["config"])
    return out


def push(store, reg: Registry, image: Image, dest: Reference, chunk_size: int = CHUNK_THRESHOLD,
         progress=None, by_digest: bool = False, docker: bool = False) -> Pushed:
    """Layers stored uncompressed go up as gzip (the manifest pushed then names the gzip
    forms, so its digest is not the local one, as with `docker push`). `by_digest`: the
    manifest goes up under its own digest (an index's member), not dest's tag. `docker`:
    in docker's media types."""
    sender = Sender(store, reg, dest.path, chunk_size, progress)
    with ThreadPoolExecutor(PARALLEL_BLOBS) as pool:
        config = pool.submit(sender.stored, image.manifest["config"])
        layers = list(pool.map(sender.layer, zip(image.layers, image.diff_ids)))
        config.result()
    data = shipped_manifest(store, image, layers)
    media = image.manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    if docker:
        import json

        from distill.image.store.images import canonical_json

        data = canonical_json(docker_form({"mediaType": media, **json.loads(data)}))
        media = DOCKER_TYPES[media]
    digest = digests.of_bytes(data)
    reg.put_manifest(dest.path, digest if by_digest else dest.tag or dest.digest or "latest", data, media)
    return Pushed(digest, *sender.counts(), len(data), media)


def push_index(store, reg: Registry, index: dict, dest: Reference, chunk_size: int = CHUNK_THRESHOLD,
               progress=None, docker: bool = False) -> Pushed:
    """A multi-platform image: each platform's manifest pushed by digest, then the index
    (`docker`: a manifest list), naming them as they went up, under dest's tag."""
    from distill.image.oci.mediatypes import OCI_INDEX
    from distill.image.store.images import canonical_json

    doc = store.read_json(index["digest"])
    entries, counts = [], [0, 0, 0]
    for m in doc.get("manifests") or []:
        sent = push(store, reg, from_descriptor(store, m), dest, chunk_size, progress, by_digest=True, docker=docker)
        entries.append({"mediaType": sent.media_type, "digest": sent.digest, "size": sent.size,
                        **({"platform": m["platform"]} if isinstance(m.get("platform"), dict) else {})})
        counts = [a + b for a, b in zip(counts, (sent.uploaded, sent.mounted, sent.existing))]
    media = DOCKER_TYPES[OCI_INDEX] if docker else OCI_INDEX
    data = canonical_json({"schemaVersion": 2, "mediaType": media, "manifests": entries})
    reg.put_manifest(dest.path, dest.tag or dest.digest or "latest", data, media)
    return Pushed(digests.of_bytes(data), *counts, len(data), media)


def push_named(store, src: str, dest: str | None = None, insecure: tuple[str, ...] = (),
               chunk_size: int | None = None, progress=None, docker: bool = False):
    """`distill push SRC [DEST]`: the store's image `src` pushed to `dest` (default: the
    registry `src` names); `docker`: in docker's media types."""
    from distill.image.oci import reference
    from distill.image.registry.client import connect
    from distill.image.store.images import lookup

    from distill.image.oci.mediatypes import INDEXES

    image = lookup(store, src)
    dest_ref = reference.parse(dest or src)
    with connect(dest_ref.domain, insecure) as reg:
        if image.descriptor.get("mediaType") in INDEXES and all(
                store.has_blob(m["digest"]) for m in store.read_json(image.descriptor["digest"]).get("manifests") or []):
            return push_index(store, reg, image.descriptor, dest_ref, chunk_size or CHUNK_THRESHOLD, progress, docker)
        return push(store, reg, image, dest_ref, chunk_size or CHUNK_THRESHOLD, progress, docker=docker)
