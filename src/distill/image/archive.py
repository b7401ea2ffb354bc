"""Image archives: `save` to docker-archive or oci-archive tars, `load` them back.

docker format: manifest.json + repositories + <diffid>/layer.tar (uncompressed) +
<config>.json, as `docker save` writes and `docker load`/`podman load` read.
oci format: an OCI image layout in a tar, as `skopeo copy oci-archive:` reads.
Archives are strangers' input on load: members are read by name into the store and every
blob is verified; nothing is extracted to the filesystem.
"""

from __future__ import annotations

import io
import json
import tarfile

from distill import digest as digests
from distill.image.oci import mediatypes, reference
from distill.errors import DistillError, Unreadable, VerificationError
from distill.image.store.images import Image, canonical_json, from_descriptor, oci_manifest
from distill.image.layers.blob import import_tar
from distill.image.layers.distribute import gzip_form, shipped_manifest
from distill.image.layers.compress import HashingReader, decompressed, sniff
from distill.image.store import REF_NAME

MAX_NESTING = 8  # index → index → ... → manifest → config: deeper is a trap

CONTAINERD_NAME = "io.containerd.image.name"
JSON_MAX = 64 << 20


class _TarOut:
    """Writes members into a tar stream; sizes must be known up front."""

    def __init__(self, fileobj):
        self.tar = tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add_stream(name, len(data), io.BytesIO(data))

    def add_stream(self, name: str, size: int, stream) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        self.tar.addfile(info, stream)

    def add_dir(self, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
        self.tar.addfile(info)

    def close(self) -> None:
        self.tar.close()


def _open_layer(store, desc: dict):
    return decompressed(store.open_blob(desc["digest"]), mediatypes.compression(desc["mediaType"]))


def save(store, images: list[tuple[Image, str | None]], out, fmt: str = "docker") -> None:
    """Write `images` (each with the name to record, or None) to the binary stream `out`."""
    t = _TarOut(out)
    if fmt == "docker":
        _save_docker(store, images, t)
    elif fmt == "oci":
        _save_oci(store, images, t)
    else:
        raise DistillError(f"unknown archive format {fmt!r} (docker or oci)")
    t.close()


def save_to_path(store, images, path: str, fmt: str) -> None:
    """save() into a file that appears whole or not at all."""
    import os

    from distill.fs.files import unlink
    from distill.fs.atomic import fsync_dir

    parent, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(parent, f".{name}.partial")
    try:
        with open(tmp, "wb") as f:
            save(store, images, f, fmt)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        unlink(tmp)
        raise
    fsync_dir(parent)


def _save_docker(store, images, t: _TarOut) -> None:
    manifest, repositories, written = [], {}, set()
    for image, name in images:
        config_name = f"{digests.split(image.config_digest)[1]}.json"
        if config_name not in written:
            t.add_bytes(config_name, store.read_blob(image.config_digest))
            written.add(config_name)
        layer_names = []
        for desc, diff_id in zip(image.layers, image.diff_ids):
            member = f"{digests.split(diff_id)[1]}/layer.tar"
            layer_names.append(member)
            if member in written:
                continue
            # The uncompressed size goes in the tar header before the data: measure first
            # (checking the diffID on the way), then stream.
            with _open_layer(store, desc) as f:
                probe = HashingReader(f)
                probe.drain()
            if probe.digest != diff_id:
                raise VerificationError(f"layer {desc['digest']} does not match diffID {diff_id}")
            t.add_dir(member.split("/")[0] + "/")
            with _open_layer(store, desc) as f:
                t.add_stream(member, probe.size, f)
            written.add(member)
        tags = []
        if name:
            ref = reference.parse(name)
            if ref.tag:
                tags.append(f"{ref.familiar_repository}:{ref.tag}")
                repositories.setdefault(ref.familiar_repository, {})[ref.tag] = digests.split(image.config_digest)[1]
        manifest.append({"Config": config_name, "RepoTags": tags or None, "Layers": layer_names})
    t.add_bytes("manifest.json", json.dumps(manifest).encode())
    if repositories:
        t.add_bytes("repositories", json.dumps(repositories).encode())


def _save_oci(store, images, t: _TarOut) -> None:
    """An OCI layout archive; an image of several platforms goes in as its index (each
    member's manifest naming its layers as shipped)."""
    t.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    entries, written = [], set()
    t.add_dir("blobs/")
    t.add_dir("blobs/sha256/")

    def blob(digest: str, data: bytes) -> None:
        if digest not in written:
            t.add_bytes(_blob_name(digest), data)
            written.add(digest)

    for image, name in images:
        members = _members(store, image)
        if members is None:
            entry = _write_image(store, image, t, written, blob)
        else:
            doc = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
                   "manifests": [{**_write_image(store, from_descriptor(store, m), t, written, blob),
                                  "platform": m["platform"]} for m in members]}
            data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
            blob(digests.of_bytes(data), data)
            entry = {"mediaType": mediatypes.OCI_INDEX, "digest": digests.of_bytes(data), "size": len(data)}
        if name:
            ref = reference.parse(name)
            entry["annotations"] = {CONTAINERD_NAME: str(ref), REF_NAME: ref.tag or ref.digest}
        entries.append(entry)
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}
    t.add_bytes("index.json", json.dumps(index).encode())


def _members(store, image) -> list[dict] | None:
    """The platforms' manifests of an image tagged as an index whose members the store
    holds (None for one image)."""
    if image.descriptor.get("mediaType") not in mediatypes.INDEXES:
        return None
    members = [m for m in store.read_json(image.descriptor["digest"]).get("manifests") or []
               if isinstance(m, dict) and isinstance(m.get("platform"), dict)]
    return members if members and all(store.has_blob(m.get("digest", "")) for m in members) else None


def _write_image(store, image, t: _TarOut, written: set, blob) -> dict:
    """One image's blobs into the archive (layers compressed, as a registry gets them);
    returns its manifest's descriptor."""
    layers = []
    for desc, diff_id in zip(image.layers, image.diff_ids):
        with gzip_form(store, desc, diff_id) as (gz, opener):
            if gz["digest"] not in written:
                with opener() as f:
                    t.add_stream(_blob_name(gz["digest"]), gz["size"], f)
                written.add(gz["digest"])
        layers.append(gz)
    if image.config_digest not in written:
        with store.open_blob(image.config_digest) as f:
            t.add_stream(_blob_name(image.config_digest), store.blob_size(image.config_digest), f)
        written.add(image.config_digest)
    manifest = shipped_manifest(store, image, layers)
    blob(digests.of_bytes(manifest), manifest)
    return {"mediaType": image.manifest.get("mediaType") or mediatypes.OCI_MANIFEST,
            "digest": digests.of_bytes(manifest), "size": len(manifest)}


def _blob_name(digest: str) -> str:
    alg, hexpart = digests.split(digest)
    return f"blobs/{alg}/{hexpart}"


# ---- load ----------------------------------------------------------------------
def _member_bytes(tar: tarfile.TarFile, name: str, limit: int = JSON_MAX) -> bytes:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise DistillError(f"archive has no {name!r}") from None
    if not member.isreg() or member.size > limit:
        raise DistillError(f"archive member {name!r} is not a small regular file")
    return tar.extractfile(member).read()


def _member_json(tar, name: str, kind: type = dict):
    from distill.documents import parse

    doc = parse(_member_bytes(tar, name), f"archive member {name!r}")
    if not isinstance(doc, kind):
        raise Unreadable(f"archive member {name!r} is not a JSON {'object' if kind is dict else 'list'}")
    return doc


def _member_file(tar, name):
    """A member's stream: a regular file of the archive, never what a link names."""
    if not isinstance(name, str):
        raise Unreadable(f"archive names a member by {type(name).__name__}, not a path")
    try:
        member = tar.getmember(name)
    except KeyError:
        raise Unreadable(f"archive lacks {name!r}") from None
    if not member.isreg():
        raise Unreadable(f"archive member {name!r} is not a regular file")
    return tar.extractfile(member)


def load(store, path: str, tag: bool = True) -> list[tuple[str | None, dict]]:
    """Load an archive (docker or oci format, detected). Returns (name, descriptor) pairs.
    Without `tag`, only the blobs are stored (to read the images, not to keep them)."""
    try:
        tar = tarfile.open(path, mode="r:*")
    except tarfile.TarError:
        raise DistillError(f"cannot read archive {path}: not a tar archive") from None
    except OSError as e:
        raise DistillError(f"cannot read archive {path}: {e.strerror}") from None
    with tar, store.writing():
        names = set(tar.getnames())
        if "manifest.json" in names:
            return _load_docker(store, tar, tag)
        if "index.json" in names:
            return _load_oci(store, tar, tag)
        raise DistillError(f"{path} is neither a docker nor an OCI archive")


def _load_oci(store, tar, tag: bool) -> list:
    index = _member_json(tar, "index.json")
    out = []

    copied: set[str] = set()

    def copy(desc, depth: int = 0):
        """The blob `desc` names and, for an index or manifest, what it names: each once
        (indexes naming one another twice over are a DAG of 2^depth paths), and no
        deeper than MAX_NESTING."""
        d = digests.validate(desc.get("digest", "") if isinstance(desc.get("digest"), str) else "")
        if d in copied:
            return
        if depth > MAX_NESTING:
            raise Unreadable(f"archive: indexes nested more than {MAX_NESTING} deep")
        if not store.has_blob(d):
            alg, hexpart = digests.split(d)
            size = desc.get("size")
            store.ingest(_member_file(tar, f"blobs/{alg}/{hexpart}"), d, size if isinstance(size, int) else None)
        copied.add(d)
        media = desc.get("mediaType")
        if media in mediatypes.INDEXES | mediatypes.MANIFESTS:
            doc = store.read_json(d)
            children = [doc.get("manifests"), doc.get("layers"), [doc.get("config")]]
            for child in (c for group in children if isinstance(group, list) for c in group):
                if isinstance(child, dict):
                    copy(child, depth + 1)

    manifests = index.get("manifests") or []
    if not isinstance(manifests, list):
        raise Unreadable("archive: index.json's manifests is not a list")
    for desc in manifests:
        if not isinstance(desc, dict):
            continue
        copy(desc)
        ann = desc.get("annotations") if isinstance(desc.get("annotations"), dict) else {}
        ann = {k: v for k, v in ann.items() if isinstance(v, str)}
        name = ann.get(CONTAINERD_NAME)
        if not name and ann.get(REF_NAME):
            try:
                ref = reference.parse(ann[REF_NAME])
                name = str(ref) if "/" in ann[REF_NAME] else None
            except DistillError:
                name = None
        descriptor = {k: desc[k] for k in ("mediaType", "digest", "size") if k in desc}
        if name and tag:
            store.set_tag(name, descriptor)
        elif tag:
            store.add_untagged(descriptor)  # found by its ID, as docker keeps an unnamed image
        out.append((name, descriptor))
    return out


def _load_docker(store, tar, tag: bool) -> list:
    out = []
    from distill.documents import clean_config, parse_object

    for entry in _member_json(tar, "manifest.json", list):
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise Unreadable("archive: manifest.json holds an entry without a Config")
        config_bytes = _member_bytes(tar, entry["Config"])
        config = parse_object(config_bytes, f"archive member {entry['Config']!r}")
        diff_ids = (clean_config(config)[0].get("rootfs") or {}).get("diff_ids") or []
        layer_names = entry.get("Layers") or []
        if not isinstance(layer_names, list) or len(diff_ids) != len(layer_names):
            raise DistillError("archive manifest and config disagree on the number of layers")
        layers = []
        for member_name, diff_id in zip(layer_names, diff_ids):
            raw = _member_file(tar, member_name)
            head = raw.read(4)
            raw = _member_file(tar, member_name)
            try:
                layer = import_tar(store, decompressed(raw, sniff(head)), expected_diff_id=diff_id)
            except VerificationError as e:
                raise VerificationError(f"archive layer {member_name}: {e}") from None
            layers.append(layer.descriptor)
        config_digest = store.write_blob(config_bytes)
        data = canonical_json(oci_manifest(config_digest, len(config_bytes), layers))
        descriptor = {"mediaType": mediatypes.OCI_MANIFEST, "digest": store.write_blob(data), "size": len(data)}
        tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)] if isinstance(entry.get("RepoTags"), list) \
            else []
        for name in tags if tag else ():
            store.set_tag(str(reference.parse(name)), descriptor)
        out.append((str(reference.parse(tags[0])) if tags else None, descriptor))
    return out
