"""An image archive (docker-archive or oci-archive, one image) read in place: its members
found by walking the outer tar's headers (data skipped by seeking), each layer read as
a window of the archive file. Nothing is copied into the store, and nothing is kept
under the archive's digests, so they are taken as the archive states them: `distill load`
verifies every blob before the store keeps it. An archive this cannot read in place (a
compressed docker layer, an index of several platforms) is None: the caller loads it."""

from __future__ import annotations

import os

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.errors import DistillError, Unreadable
from distill.image.store.images import canonical_json, checked_image, oci_manifest
from distill.image.layers.compress import Readable, sniff
from distill.image.layers.tarstream import REG, TarReader
from distill.image.layers.toc import MAX_ENTRIES
from distill.image.sources.layout import JSON_MAX, blob_name, indexed_image
from distill.image.sources.source import Blobs, ImageSource


class _Window(Readable):
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


class ArchiveBlobs(Blobs):
    """The layers of an archive, by digest, each a window of the archive file."""

    name = "archive"

    def __init__(self, path: str, members: dict[str, tuple[int, int]], by_digest: dict[str, str]):
        super().__init__()
        self.path, self.members, self.by_digest = path, members, by_digest

    def has(self, digest: str) -> bool:
        return digest in self.by_digest

    def open(self, desc: dict) -> _Window:
        start, size = self.members[self.by_digest[desc["digest"]]]
        return _Window(open(self.path, "rb"), start, size)


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


def _read(path: str, found: dict, name: str, limit: int = JSON_MAX) -> bytes:
    if name not in found:
        raise DistillError(f"{path}: the archive has no {name!r}")
    start, size = found[name]
    if size > limit:
        raise DistillError(f"{path}: {name!r} is larger than {limit} bytes")
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(size)


def _json(path: str, found: dict, name: str, kind: type = dict):
    from distill.documents import parse

    doc = parse(_read(path, found, name), f"{path}: {name!r}")
    if not isinstance(doc, kind):
        raise Unreadable(f"{path}: {name!r} is not a JSON {'object' if kind is dict else 'list'}")
    return doc


def open_archive(path: str) -> ImageSource | None:
    try:
        found = members(path)
    except OSError as e:
        raise DistillError(f"cannot read archive {path}: {e.strerror}") from None
    if "manifest.json" in found:
        return _docker(path, found)
    if "index.json" in found:
        return _oci(path, found)
    raise DistillError(f"{path} is neither a docker nor an OCI archive")


def _docker(path: str, found: dict) -> ImageSource | None:
    entries = _json(path, found, "manifest.json", list)
    if len(entries) != 1 or not isinstance(entries[0], dict):
        return None  # several images: load() says which
    entry = entries[0]
    config_bytes = _read(path, found, str(entry.get("Config")))
    config = _json(path, found, str(entry.get("Config")))
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs.get("diff_ids"), list) else []
    names = entry.get("Layers") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(diff_ids) != len(names):
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
    tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)] if isinstance(entry.get("RepoTags"), list) \
        else []
    image = checked_image(tags[0] if tags else None, descriptor, descriptor["digest"], manifest, config_digest, config)
    return ImageSource(path, image, ArchiveBlobs(path, found, by_digest))


def _oci(path: str, found: dict) -> ImageSource | None:
    manifests = _json(path, found, "index.json").get("manifests")
    if not isinstance(manifests, list) or len(manifests) != 1:
        return None  # several images: load() says which
    image = indexed_image(lambda name, limit: _read(path, found, name, limit), path)
    by_digest = {}
    for desc in image.layers:
        try:
            mediatypes.compression(desc.get("mediaType") or "")
        except ValueError:
            return None  # load() says what it is
        name = blob_name(desc.get("digest", ""))
        if name not in found:
            raise DistillError(f"{path}: the archive lacks blob {desc.get('digest')}")
        by_digest[desc["digest"]] = name
    return ImageSource(path, image, ArchiveBlobs(path, found, by_digest))
