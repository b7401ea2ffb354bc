"""Artifacts about an image, kept beside it: an OCI artifact manifest whose `subject` is
the image's manifest (OCI 1.1's referrers), listed in index.json with its `artifactType`
and the subject's digest, so it is found without a scan and never taken for an image.

The artifact's config is the document (for a build record, its JSON); its `layers` name
the manifests the document refers to (a build's intermediate stages), so the store's
reachability keeps them, and their layers, for as long as the artifact stays. An
artifact leaves the index with its subject (Store.editing_index): an unnamed image's
record at prune, a named one's when its last name goes."""

from __future__ import annotations

from distill.image.oci import mediatypes
from distill.digest import validate
from distill.errors import DistillError

SUBJECT = "vnd.distill.subject"  # index.json annotation: the digest of the subject's manifest


def is_artifact(entry: dict) -> bool:
    return bool(entry.get("artifactType"))


def attach(store, subject: dict, artifact_type: str, document: bytes, refers_to: list[dict] = ()) -> dict:
    """Stores `document` as the artifact of `artifact_type` about `subject` (a manifest
    descriptor), replacing an earlier one of the same type."""
    from distill.image.store.images import canonical_json

    doc_digest = store.write_blob(document)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": artifact_type, "digest": doc_digest, "size": len(document)},
        "layers": [{k: d[k] for k in ("mediaType", "digest", "size")} for d in refers_to],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
    }
    raw = canonical_json(manifest)
    new = {"mediaType": mediatypes.OCI_MANIFEST, "digest": store.write_blob(raw), "size": len(raw),
           "artifactType": artifact_type, "annotations": {SUBJECT: subject["digest"]}}
    with store.editing_index() as index:
        index["manifests"] = [d for d in index["manifests"]
                              if not (d.get("artifactType") == artifact_type
                                      and (d.get("annotations") or {}).get(SUBJECT) == subject["digest"])]
        index["manifests"].append(new)
    return new


def entry(store, subject_digest: str, artifact_type: str) -> dict | None:
    """The index entry of the artifact of `artifact_type` about `subject_digest`, or None."""
    for d in store.entries():
        if d.get("artifactType") == artifact_type and (d.get("annotations") or {}).get(SUBJECT) == subject_digest:
            return d
    return None


def find(store, subject_digest: str, artifact_type: str) -> tuple[dict, bytes] | None:
    """(the artifact manifest, its document) about `subject_digest`, or None."""
    d = entry(store, subject_digest, artifact_type)
    if d is None:
        return None
    manifest = store.read_json(validate(d["digest"]))
    config = manifest.get("config") or {}
    return manifest, store.read_blob(validate(config.get("digest", "")))


def members(read_json, index: dict) -> list[str]:
    """The manifests an index lists (read only when artifacts need them)."""
    try:
        return [m.get("digest") for m in read_json(index["digest"]).get("manifests") or [] if isinstance(m, dict)]
    except (DistillError, OSError, AttributeError):
        return []


def orphans(entries: list[dict], members=lambda index: ()) -> list[dict]:
    """The artifacts among `entries` whose subject is not one of them, nor one of the
    manifests `members(descriptor)` lists for an index among them (a multi-platform
    image's per-platform build records)."""
    present = {d.get("digest") for d in entries if not is_artifact(d)}
    present |= {m for d in entries if d.get("mediaType") in mediatypes.INDEXES and not is_artifact(d) for m in members(d)}
    return [d for d in entries if is_artifact(d) and (d.get("annotations") or {}).get(SUBJECT) not in present]
