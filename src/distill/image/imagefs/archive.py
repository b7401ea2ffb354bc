"""An image archive (docker-archive or oci-archive, one image) read in place: its members
found by walking the outer tar's headers (data skipped by seeking), each layer read as
a window of the archive file. Nothing is copied into the store, and nothing is kept
under the archive's digests, so they are taken as the archive states them: `distill load`
verifies every blob before the store keeps it. An archive this cannot read in place (a
compressed docker layer, an index of several platforms) is None: the caller loads it."""

from __future__ import annotations

import json
import os

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.errors import DistillError
from distill.image.store.images import Image, canonical_json, oci_manifest
from distill.image.layers.compress import decompressed, sniff
from distill.image.layers.tarstream import REG, TarReader
from distill.image.imagefs.toc import MAX_ENTRIES, rows_of

JSON_MAX = 64 << 20


class _Window:
    """A seekable window [start, start+size) of an open file."""

    def __init__(self, f, start: int, size: int):
        self.f, self.start, self.size, self.pos = f, start, size, 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.pos
        n = left if n < 0 or n > left else n
        if n <= 0:
            return b""
        self.f.seek(self.start + self.pos)
        data = self.f.read(n)
        self.pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, min(self.size, base + pos))
        return self.pos

    def tell(self) -> int:
        return self.pos

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Counting:
    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        return data


class ArchiveBlobs:
    """The layers of an archive, by digest, for ImageFS."""

    def __init__(self, path: str, members: dict[str, tuple[int, int]], by_digest: dict[str, str]):
        self.path, self.members, self.by_digest = path, members, by_digest
        self.sizes: dict[str, int] = {}  # digest → uncompressed size, of the layers read

    def open(self, desc: dict) -> _Window:
        start, size = self.members[self.by_digest[desc["digest"]]]
        return _Window(open(self.path, "rb"), start, size)

    def rows(self, desc: dict, diff_id: str) -> list[list]:
        kind = mediatypes.compression(desc["mediaType"])
        with self.open(desc) as f:
            if kind == "none":
                self.sizes[desc["digest"]] = f.size
                return rows_of(TarReader(f, f.size))
            stream = _Counting(decompressed(f, kind))
            rows = rows_of(TarReader(stream))
            while stream.read(1 << 20):
                pass
            self.sizes[desc["digest"]] = stream.count
            return rows

    def uncompressed_size(self, desc: dict, diff_id: str) -> int:
        if desc["digest"] not in self.sizes:
            self.rows(desc, diff_id)
        return self.sizes[desc["digest"]]

    def unpacked(self, diff_id: str) -> bool:
        return False

    def snapshot_file(self, diff_id: str, entry: str) -> None:
        return None  # the store's snapshots are of verified layers, not of this archive's


def members(path: str) -> dict[str, tuple[int, int]]:
    """name → (data offset, size) of the archive's regular files."""
    out = {}
    with open(path, "rb") as f:
        for e in TarReader(f, os.fstat(f.fileno()).st_size):
            if len(out) >= MAX_ENTRIES:
                raise DistillError(f"{path}: more than {MAX_ENTRIES} members")
            if e.type == REG:
                out[e.name.removeprefix("./")] = (e.offset, e.size)
    return out


def _read(path: str, found: dict, name: str) -> bytes:
    if name not in found:
        raise DistillError(f"{path}: the archive has no {name!r}")
    start, size = found[name]
    if size > JSON_MAX:
        raise DistillError(f"{path}: {name!r} is larger than {JSON_MAX} bytes")
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(size)


def _json(path: str, found: dict, name: str, kind: type = dict):
    try:
        doc = json.loads(_read(path, found, name))
    except ValueError:
        raise DistillError(f"{path}: {name!r} is not valid JSON") from None
    if not isinstance(doc, kind):
        raise DistillError(f"{path}: {name!r} is not a JSON {'object' if kind is dict else 'list'}")
    return doc


def open_archive(path: str) -> tuple[Image, ArchiveBlobs] | None:
    try:
        found = members(path)
    except OSError as e:
        raise DistillError(f"cannot read archive {path}: {e.strerror}") from None
    if "manifest.json" in found:
        return _docker(path, found)
    if "index.json" in found:
        return _oci(path, found)
    raise DistillError(f"{path} is neither a docker nor an OCI archive")


def _docker(path: str, found: dict) -> tuple[Image, ArchiveBlobs] | None:
    entries = _json(path, found, "manifest.json", list)
    if len(entries) != 1 or not isinstance(entries[0], dict):
        return None  # several images: load() says which
    entry = entries[0]
    config_bytes = _read(path, found, str(entry.get("Config")))
    config = _json(path, found, str(entry.get("Config")))
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    names = entry.get("Layers") or []
    if len(diff_ids) != len(names):
        raise DistillError(f"{path}: the archive's manifest and config disagree on the number of layers")
    layers, by_digest = [], {}
    with open(path, "rb") as f:
        for name, diff_id in zip(names, diff_ids):
            if name not in found:
                raise DistillError(f"{path}: the archive has no {name!r}")
            f.seek(found[name][0])
            if sniff(f.read(4)) != "none":
                return None  # a compressed layer's digest is unknown until hashed: load it
            digest = digests.validate(diff_id)
            layers.append({"mediaType": mediatypes.OCI_LAYER, "digest": digest, "size": found[name][1]})
            by_digest[digest] = name
    config_digest = digests.of_bytes(config_bytes)
    manifest = oci_manifest(config_digest, len(config_bytes), layers)
    data = canonical_json(manifest)
    descriptor = {"mediaType": mediatypes.OCI_MANIFEST, "digest": digests.of_bytes(data), "size": len(data)}
    tags = entry.get("RepoTags") or []
    image = Image(tags[0] if tags else None, descriptor, descriptor["digest"], manifest, config_digest, config)
    return image, ArchiveBlobs(path, found, by_digest)


def _blob(digest: str) -> str:
    alg, hexpart = digests.split(digests.validate(digest))
    return f"blobs/{alg}/{hexpart}"


def _oci(path: str, found: dict) -> tuple[Image, ArchiveBlobs] | None:
    index = _json(path, found, "index.json")
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or len(manifests) != 1 or \
            manifests[0].get("mediaType") not in mediatypes.MANIFESTS:
        return None  # several images, or an index of platforms: load() chooses
    descriptor = {k: manifests[0][k] for k in ("mediaType", "digest", "size") if k in manifests[0]}
    manifest = _json(path, found, _blob(descriptor.get("digest", "")))
    config_digest = digests.validate((manifest.get("config") or {}).get("digest", ""))
    config = _json(path, found, _blob(config_digest))
    layers = manifest.get("layers") or []
    by_digest = {}
    for desc in layers:
        try:
            mediatypes.compression(desc.get("mediaType") or "")
        except ValueError:
            return None  # load() says what it is
        name = _blob(desc.get("digest", ""))
        if name not in found:
            raise DistillError(f"{path}: the archive lacks blob {desc.get('digest')}")
        by_digest[desc["digest"]] = name
    ann = manifests[0].get("annotations") or {}
    image = Image(ann.get("io.containerd.image.name"), descriptor, descriptor["digest"], manifest, config_digest,
                  config)
    return image, ArchiveBlobs(path, found, by_digest)
