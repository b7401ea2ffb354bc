"""An OCI image layout (index.json, blobs/<alg>/<hex>) read in place: a directory
(`oci:DIR[:TAG]`, as skopeo names it, or a `type=local` build cache), and the index
walk an OCI archive shares with it. Manifests and configs are checked against their
digests before they are believed; layers are checked as imagefs reads them."""

from __future__ import annotations

import os
from typing import BinaryIO, Callable

from distill import digest as digests
from distill.errors import DistillError, NotFound, VerificationError
from distill.image.sources.source import Blobs, ImageSource
from distill.image.store.images import Image, image_from

JSON_MAX = 64 << 20  # a manifest or config larger than this is refused unread
INDEX_MAX = 1 << 20
REF_NAMES = ("io.containerd.image.name", "org.opencontainers.image.ref.name")

Reader = Callable[[str, int], bytes]  # (name inside the layout, limit) → its bytes


def blob_name(digest: str) -> str:
    alg, hexpart = digests.split(digests.validate(digest))
    return f"blobs/{alg}/{hexpart}"


def blob_path(root: str, digest: str) -> str:
    return os.path.join(root, blob_name(digest))


class LayoutBlobs(Blobs):
    name = "layout"

    def __init__(self, root: str):
        super().__init__()
        self.root = root

    def has(self, digest: str) -> bool:
        return os.path.isfile(blob_path(self.root, digest))

    def open(self, desc: dict) -> BinaryIO:
        try:
            return open(blob_path(self.root, desc["digest"]), "rb")
        except FileNotFoundError:
            raise NotFound(f"{self.root}: no blob {desc['digest']}") from None


def json_blob(read: Reader, digest: str, limit: int = JSON_MAX) -> dict:
    """A manifest or config of the layout, checked against its digest."""
    from distill.documents import parse_object

    data = read(blob_name(digest), limit)
    if digests.of_bytes(data, digests.split(digest)[0]) != digest:
        raise VerificationError(f"blob {digest} does not match its digest")
    return parse_object(data, f"blob {digest}")


def chosen_entry(index: dict, where: str, tag: str | None) -> dict:
    """The manifest index.json names `tag` (by its ref.name annotation), or its only one."""
    from distill.documents import checked_descriptor

    entries = index.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise VerificationError(f"{where}: index.json lists no manifest")
    if tag is not None:
        entries = [e for e in entries if isinstance(e, dict) and tag in
                   (str((e.get("annotations") or {}).get(k)) for k in REF_NAMES)]
        if not entries:
            raise NotFound(f"{where}: no image named {tag!r}")
    elif len(entries) > 1:
        raise DistillError(f"{where}: holds {len(entries)} images; name one as oci:{where}:NAME")
    return checked_descriptor(entries[0], f"{where}: index.json")


def entry_name(entry: dict) -> str | None:
    ann = entry.get("annotations") or {}
    return next((str(ann[k]) for k in REF_NAMES if ann.get(k)), None)


def indexed_image(read: Reader, where: str, tag: str | None = None, platform=None,
                  limit: int = JSON_MAX) -> Image:
    """The image an OCI layout's index.json names (`tag`, or its only one; an index of
    platforms resolved to `platform`)."""
    from distill.documents import parse_object

    entry = chosen_entry(parse_object(read("index.json", INDEX_MAX), f"{where}: index.json"), where, tag)
    return image_from(lambda d: json_blob(read, d, limit), entry, entry_name(entry), platform)


def directory_reader(root: str) -> Reader:
    def read(name: str, limit: int) -> bytes:
        try:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            raise NotFound(f"{root}: no {name}") from None
        except OSError as e:
            raise DistillError(f"{root}/{name}: {e.strerror}") from None
        if len(data) > limit:
            raise VerificationError(f"{root}/{name} is larger than {limit} bytes")
        return data

    return read


def open_layout(root: str, tag: str | None = None, platform=None, limit: int = JSON_MAX) -> ImageSource:
    if not os.path.isdir(root):
        raise NotFound(f"{root}: no such directory")
    image = indexed_image(directory_reader(root), root, tag, platform, limit)
    return ImageSource(f"oci:{root}" + (f":{tag}" if tag else ""), image, LayoutBlobs(root))
