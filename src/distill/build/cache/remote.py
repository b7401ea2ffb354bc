"""A build cache shared through a registry or a directory (cache/shared.py's document).

Importing reads only the document: the layers it names are fetched when a step that must
run stands on them, or the built image holds them (Session.materialize), each verified by
digest and by diffID. A layer that cannot be had or does not match is a miss: the build
drops every record naming it, says so, and builds those steps itself (api.build)."""

from __future__ import annotations

import json
import os
import shutil
import threading

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.errors import DistillError, NotFound, VerificationError
from distill.build.cache import shared
from distill.build.cache.spec import CacheSpec


class CacheBroken(DistillError):
    """Layers cache records named could not be had as named (or were never shipped)."""

    def __init__(self, layers: set[str], why: str):
        super().__init__(why)
        self.layers = layers


class Source:
    """One --cache-from: its records, memos, and the image source its layers come from
    (sources.registry's or sources.layout's blobs)."""

    def __init__(self, name: str, steps: dict[str, dict], memos: dict[str, str], blobs):
        self.name, self.steps, self.memos, self.blobs = name, steps, memos, blobs
        self.unshipped = {r["layer"]["digest"] for r in steps.values() if r.pop("shipped", True) is False}
        self.layers = {r["layer"]["digest"] for r in steps.values() if r["layer"]} - self.unshipped


def _document(image) -> tuple[dict, dict]:
    """(steps, memos) of a cache image: an artifact, or an image with an inline cache."""
    from distill.documents import checked_descriptor

    config = checked_descriptor(image.manifest.get("config"), "manifest")
    layers = [checked_descriptor(d, "manifest") for d in image.layers]
    if config.get("mediaType") == mediatypes.BUILD_CACHE:
        return shared.decode(image.config, layers)
    inline = image.config.get(shared.INLINE_KEY)
    if inline is None:
        raise VerificationError("it holds no distill build cache (neither an artifact nor an image with one inline)")
    return shared.decode(inline, layers, (image.config.get("rootfs") or {}).get("diff_ids"))


def load_source(spec: CacheSpec, insecure: tuple[str, ...], platform=None) -> Source:
    """A cache source; of an image of several platforms (inline caches), `platform`'s."""
    if spec.type == "registry":
        from distill.image.sources.registry import open_registry

        source = open_registry(spec.ref, insecure, platform, limit=shared.MAX_DOCUMENT)
    else:
        from distill.image.sources.layout import open_layout

        source = open_layout(spec.path, None, platform, limit=shared.MAX_DOCUMENT)
    steps, memos = _document(source.image)
    return Source(spec.ref or spec.path, steps, memos, source.blobs)


class RemoteCache:
    """The --cache-from sources of one build, asked in order after the local cache."""

    def __init__(self, sources: list[Source], warn):
        self.sources, self.warn = sources, warn
        self.broken: set[str] = set()
        self.lock = threading.Lock()
        self.fetching: dict[str, threading.Lock] = {}
        self.check_presence()

    def check_presence(self) -> None:
        """A record whose layer its source lacks is a miss from the start, with a warning."""
        from concurrent.futures import ThreadPoolExecutor

        for src in self.sources:
            wanted = sorted(src.layers - self.broken)
            with ThreadPoolExecutor(4) as pool:
                there = list(pool.map(src.blobs.has, wanted))
            for digest, ok in zip(wanted, there):
                if not ok:
                    self.discard({digest}, f"cache {src.name}: layer {digest} is missing; its steps will run")

    def get(self, key: str) -> dict | None:
        for src in self.sources:
            record = src.steps.get(key)
            if record is not None and (not record["layer"] or record["layer"]["digest"] not in self.broken):
                return record
        return None

    def memo(self, key: str) -> str | None:
        for src in self.sources:
            if key in src.memos:
                return src.memos[key]
        return None

    def discard(self, layers: set[str], why: str) -> None:
        """Every record naming one of `layers` becomes a miss."""
        with self.lock:
            if layers <= self.broken:
                return
            self.broken |= layers
        self.warn(why)

    def materialize(self, store, layers: list[dict], diff_ids: list[str], progress=None) -> None:
        """Fetches the layers the store lacks from the source naming them, each checked
        against its digest and diffID; raises CacheBroken for one that fails."""
        todo = [d for d in layers if not store.has_blob(d["digest"])]
        if not todo:
            return
        step = progress.step(f"[internal] fetch {len(todo)} layer{'s' if len(todo) > 1 else ''} from the shared cache") \
            if progress is not None else None
        try:
            self._materialize(store, layers, diff_ids)
        except CacheBroken:
            if step is not None:
                step.error("a layer could not be had as named")
            raise
        if step is not None:
            step.done()

    def _materialize(self, store, layers: list[dict], diff_ids: list[str]) -> None:
        from distill.image.layers.blob import verify_diff_id

        unshipped = {d["digest"] for d in layers if not store.has_blob(d["digest"])
                     and not any(d["digest"] in s.layers for s in self.sources)
                     and any(d["digest"] in s.unshipped for s in self.sources)}
        if unshipped:  # mode=min: the steps that made them run here, all at once
            raise CacheBroken(unshipped, f"cache: {len(unshipped)} layer(s) it keyed but did not ship (mode=min) "
                                         "are needed")
        for desc, diff_id in zip(layers, diff_ids):
            digest = desc["digest"]
            if store.has_blob(digest):
                continue
            with self.lock:
                lock = self.fetching.setdefault(digest, threading.Lock())
            with lock:
                if store.has_blob(digest):
                    continue
                src = next((s for s in self.sources if digest in s.layers), None)
                if src is None:
                    raise DistillError(f"layer {digest} is neither in the store nor in a cache")
                try:
                    src.blobs.fetch(store, desc)
                    verify_diff_id(store, desc, diff_id)
                except (VerificationError, NotFound, OSError, DistillError) as e:
                    if store.has_blob(digest):
                        from distill.fs.files import unlink

                        unlink(store.blob_path(digest))
                    raise CacheBroken({digest}, f"cache {src.name}: layer {digest}: {e}") from None


def load(specs: list[CacheSpec], insecure: tuple[str, ...], warn, progress=None, platform=None) -> RemoteCache | None:
    """The sources that can be read; one that cannot is a warning, as in BuildKit."""
    sources = []
    for spec in specs:
        name = spec.ref or spec.path
        step = progress.step(f"[internal] load build cache {name}") if progress is not None else None
        try:
            sources.append(load_source(spec, insecure, platform))
            if step is not None:
                step.done()
        except DistillError as e:
            if step is not None:
                step.error("not found" if isinstance(e, NotFound) else "cannot be used")
            warn(f"cache {name}: not found; building without it" if isinstance(e, NotFound)
                 else f"cache {name}: cannot be used: {e}")
    return RemoteCache(sources, warn) if sources else None


# ---- writing a cache -----------------------------------------------------------------------
def export(store, spec: CacheSpec, steps: dict[str, dict], memos: dict[str, str], shipped: set[str],
           insecure: tuple[str, ...], remote: RemoteCache | None) -> str:
    """Writes `steps` and `memos` to the registry or directory `spec` names, with the
    layers whose diffIDs are `shipped` (those that can be had: a layer a --cache-from
    source keyed but did not ship goes by its descriptor again); returns the manifest's
    digest."""
    layers: dict[str, dict] = {}  # diffID → stored descriptor
    for record in steps.values():
        desc = record.get("layer")
        if desc and record["diff_id"] in shipped and (store.has_blob(desc["digest"]) or remote is not None and any(
                desc["digest"] in s.layers for s in remote.sources)):
            layers.setdefault(record["diff_id"], desc)
    if spec.type == "registry":
        return _to_registry(store, spec.ref, steps, memos, layers, insecure, remote)
    return _to_directory(store, spec.path, steps, memos, layers, remote)


def _manifest(config_bytes: bytes, layers: list[dict]) -> bytes:
    from distill.image.store.images import canonical_json

    return canonical_json({
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": mediatypes.BUILD_CACHE,
        "config": {"mediaType": mediatypes.BUILD_CACHE, "digest": digests.of_bytes(config_bytes),
                   "size": len(config_bytes)},
        "layers": layers,
    })


def _document_bytes(steps, memos, diff_ids: list[str]) -> bytes:
    from distill.image.store.images import canonical_json

    return canonical_json(shared.encode(steps, memos, diff_ids))


def _to_registry(store, text: str, steps, memos, layers: dict[str, dict], insecure, remote) -> str:
    from concurrent.futures import ThreadPoolExecutor

    from distill.image.oci import reference
    from distill.image.registry.client import Registry
    from distill.image.registry.push import PARALLEL_BLOBS, Sender

    ref = reference.parse(text)
    with Registry(ref.domain, insecure=ref.domain in insecure) as reg:
        sender = Sender(store, reg, ref.path)

        def send(pair: tuple[str, dict]) -> dict:
            diff_id, desc = pair
            if not store.has_blob(desc["digest"]):  # a layer the build took from a cache and never needed
                source = _registry_source_of(remote, desc["digest"], ref.domain)
                if source is not None and sender.placed(desc["digest"], source) is not None:
                    return desc
                remote.materialize(store, [desc], [diff_id])
            return sender.layer((desc, diff_id))

        pairs = sorted(layers.items())
        with ThreadPoolExecutor(PARALLEL_BLOBS) as pool:
            sent = list(pool.map(send, pairs))
        diff_ids = [d for d, _ in pairs]
        config = _document_bytes(steps, memos, diff_ids)
        sender.data({"digest": digests.of_bytes(config)}, config)
        manifest = _manifest(config, sent)
        reg.put_manifest(ref.path, ref.tag or ref.digest or "latest", manifest, mediatypes.OCI_MANIFEST)
    return digests.of_bytes(manifest)


def _registry_source_of(remote: RemoteCache | None, digest: str, domain: str) -> str | None:
    """The repository on `domain` a --cache-from source holds `digest` in, if any."""
    for src in remote.sources if remote else ():
        ref = getattr(src.blobs, "ref", None)  # a registry's
        if ref is not None and ref.domain == domain and digest in src.layers:
            return ref.path
    return None


def _to_directory(store, root: str, steps, memos, layers: dict[str, dict], remote) -> str:
    """An OCI layout: blobs as stored (linked when on one filesystem), index.json last."""
    from distill.fs.files import write_text
    from distill.fs.atomic import write_file
    from distill.image.sources.layout import blob_path

    pairs = sorted(layers.items())
    for diff_id, desc in pairs:
        dest = blob_path(root, desc["digest"])
        if os.path.exists(dest):
            continue
        if not store.has_blob(desc["digest"]):
            if remote is None:
                raise DistillError(f"layer {desc['digest']} is not in the store")
            remote.materialize(store, [desc], [diff_id])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            os.link(store.blob_path(desc["digest"]), dest)
        except OSError:
            shutil.copyfile(store.blob_path(desc["digest"]), dest + ".part")
            os.replace(dest + ".part", dest)
    config = _document_bytes(steps, memos, [d for d, _ in pairs])
    manifest = _manifest(config, [desc for _, desc in pairs])
    os.makedirs(os.path.dirname(blob_path(root, digests.of_bytes(config))), exist_ok=True)
    for data in (config, manifest):
        write_file(blob_path(root, digests.of_bytes(data)), data)
    write_text(os.path.join(root, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
             "manifests": [{"mediaType": mediatypes.OCI_MANIFEST, "artifactType": mediatypes.BUILD_CACHE,
                            "digest": digests.of_bytes(manifest), "size": len(manifest),
                            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    write_file(os.path.join(root, "index.json"), json.dumps(index, sort_keys=True).encode())
    return digests.of_bytes(manifest)


def inline_document(steps: dict[str, dict], memos: dict[str, str], diff_ids: list[str]) -> dict:
    """The cache an image carries in its config (type=inline): its own layers' steps."""
    return shared.encode(steps, memos, diff_ids, inline=True)
