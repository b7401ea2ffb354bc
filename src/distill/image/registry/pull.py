"""Pull: manifest (choosing a platform from an index), config, layers concurrently."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from distill import digest as digests
from distill.image.oci import mediatypes
from distill import platform as platforms
from distill.documents import checked_descriptor, parse_object
from distill.errors import RegistryError, TransferError, VerificationError
from distill.record import Record
from distill.image.oci.reference import Reference
from distill.image.registry.client import Registry

PARALLEL_BLOBS = 4


class Pulled(Record):
    name: str
    descriptor: dict
    fetched: int   # blobs downloaded
    skipped: int   # blobs already stored


def pull(store, reg: Registry, ref: Reference, platform=None, progress=None, unpack: bool = False) -> Pulled:
    """The image `ref` names, its blobs fetched into the store (those it lacks) and named;
    with `unpack`, each layer fetched is unpacked as it arrives (a build's base that a RUN
    will stand on)."""
    with store.writing():
        descriptor, fetched, skipped = fetch(store, reg, ref, platform, progress, unpack)
        name = str(ref)
        store.set_tag(name, descriptor)
    return Pulled(name, descriptor, fetched, skipped)


TRANSFER_ATTEMPTS = 3


def fetch_blob(store, reg: Registry, repo: str, d: dict, diff_id: str | None = None) -> None:
    """One blob into the store, verified against its size and digest; a transfer cut
    short or spoilt on the way is tried again (three times in all), and what failed is
    never stored. With the `diff_id` of a layer, the layer is unpacked as it arrives
    (layers/unpack.py), each attempt afresh."""
    for attempt in range(TRANSFER_ATTEMPTS):
        arriving = None
        if diff_id is not None:
            from distill.image.layers.unpack import UnpackWhileArriving

            arriving = UnpackWhileArriving(store, d, diff_id)
        try:
            with store.writer(d["digest"], d["size"]) as w:
                reg.fetch_blob(repo, d["digest"], d["size"], w if arriving is None else _Both(w, arriving))
                w.commit()
            return
        except (TransferError, VerificationError):
            if attempt == TRANSFER_ATTEMPTS - 1:
                raise
            time.sleep(reg.backoff * 2 ** attempt)
        finally:
            if arriving is not None:
                arriving.finish()


class _Both:
    """Each chunk to the store's writer, then to the unpack."""

    def __init__(self, writer, arriving):
        self.writer, self.arriving = writer, arriving

    def write(self, chunk) -> None:
        self.writer.write(chunk)
        self.arriving.write(chunk)


def manifest_of(reg: Registry, ref: Reference, platform=None) -> tuple[bytes, str, str, dict]:
    """(bytes, media type, digest, parsed) of the manifest `ref` names, an index resolved
    to `platform`'s (the machine's by default)."""
    data, media, digest = reg.get_manifest(ref.path, ref.object)
    doc = parse_object(data, f"manifest {ref}")
    media = doc.get("mediaType") or media
    if media in mediatypes.INDEXES or ("manifests" in doc and "layers" not in doc):
        chosen = checked_descriptor(platforms.choose(doc.get("manifests") or [], platform or platforms.host()),
                                    f"index of {ref}")
        data, media, digest = reg.get_manifest(ref.path, chosen["digest"])
        doc = parse_object(data, f"manifest {ref}")
        media = doc.get("mediaType") or chosen.get("mediaType") or media
    if doc.get("schemaVersion") == 1 or media not in mediatypes.MANIFESTS:
        raise RegistryError(f"{ref.familiar}: unsupported manifest type {media or 'unknown'!r}")
    return data, media, digest, doc


class Verifying:
    """A blob fetched into `sink` (memory, a spool file), checked against its size and
    digest when finished."""

    def __init__(self, sink, digest: str, size: int):
        self.sink, self.digest, self.size, self.seen = sink, digest, size, 0
        self.hasher = digests.hasher(digest)

    def write(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        if self.seen > self.size:
            raise VerificationError(f"blob {self.digest} is longer than its {self.size} bytes")
        self.hasher.update(chunk)
        self.sink.write(chunk)

    def finish(self):
        if self.seen != self.size or digests.split(self.digest)[0] + ":" + self.hasher.hexdigest() != self.digest:
            raise VerificationError(f"blob {self.digest} does not match its digest")
        self.sink.seek(0)
        return self.sink


def fetch(store, reg: Registry, ref: Reference, platform=None, progress=None,
          unpack: bool = False) -> tuple[dict, int, int]:
    """The blobs of the image `ref` names (for `platform`), fetched into the store, not
    named: (manifest descriptor, blobs fetched, blobs already there). The caller holds
    store.writing() while it needs them. With `unpack`, the config comes first (its
    diffIDs check each layer's unpack) and each layer is unpacked as it arrives."""
    repo = ref.path
    data, media, digest, doc = manifest_of(reg, ref, platform)
    config = checked_descriptor(doc.get("config"), f"manifest {ref}")
    layers = [checked_descriptor(l, f"manifest {ref}") for l in doc.get("layers") or []]
    todo = [config] + layers
    missing = [d for d in todo if not store.has_blob(d["digest"])]
    fetched = len(missing)
    unpacking: dict[str, str] = {}

    def fetch_one(d):
        fetch_blob(store, reg, repo, d, unpacking.get(d["digest"]))
        if progress:
            progress(d)

    if unpack and config in missing:
        fetch_one(config)
        missing.remove(config)

    def diff_ids_of() -> list:
        found = (store.read_json(config["digest"]).get("rootfs") or {}).get("diff_ids") or []
        if len(found) != len(layers):
            raise VerificationError(f"{ref.familiar}: config lists {len(found)} diffIDs for {len(layers)} layers")
        return found

    if unpack:
        unpacking = {d["digest"]: i for d, i in zip(layers, diff_ids_of()) if isinstance(i, str)}
    with ThreadPoolExecutor(PARALLEL_BLOBS) as pool:
        for _ in pool.map(fetch_one, missing):
            pass
    diff_ids_of()
    store.write_blob(data, digest)
    return {"mediaType": media, "digest": digest, "size": len(data)}, fetched, len(todo) - fetched


def pull_named(store, text: str, platform: str | None = None, insecure: tuple[str, ...] = (),
               progress=None, unpack: bool = False) -> Pulled:
    """`distill pull TEXT`: the reference parsed, its registry connected (plain HTTP for
    the `insecure` hosts), the image for `platform` (default: this machine's) pulled."""
    from distill.image.oci import reference
    from distill.image.registry.client import connect

    ref = reference.parse(text)
    with connect(ref.domain, insecure) as reg:
        return pull(store, reg, ref, platforms.parse(platform), progress, unpack)
