"""The shared build cache's document: step records and content memos, keyed exactly as
the local cache keys them (cache/steps.py), with each record's layer named by its place
in a list of layers, so one document serves a registry artifact, an OCI layout and an
image's own config (inline):

    {"version": 1,
     "layers": [diffID, ...],              # the artifact's layers, in order (not inline)
     "steps": {key: {"layer": index | {"descriptor": {...}, "diff_id": diffID} | null,
                     "created": RFC 3339, "copies": {...}?}},
     "memos": {key: value}}

A layer not shipped (mode=min: a builder stage's) is named by its descriptor: the record
still proves the step's key, so the stages after it get theirs without running it, and
only a step that must read that layer's files makes it again.

It comes from strangers: decode() checks every field and bounds its size."""

from __future__ import annotations

from distill import digest as digests
from distill.errors import VerificationError

INLINE_KEY = "distill.cache.v1"  # the image config's field holding an inline cache
MAX_DOCUMENT = 64 << 20
MAX_STEPS = 200_000
MAX_TEXT = 4096


def encode(steps: dict[str, dict], memos: dict[str, str], diff_ids: list[str], inline: bool = False) -> dict:
    """The document for `steps` (key → local record), shipping the layers `diff_ids`."""
    where = {d: i for i, d in enumerate(diff_ids)}
    out = {}
    for key, record in sorted(steps.items()):
        entry = {"created": record["created"]}
        if not record.get("layer"):
            entry["layer"] = None
        elif record.get("diff_id") in where:
            entry["layer"] = where[record["diff_id"]]
        else:
            entry["layer"] = {"descriptor": record["layer"], "diff_id": record["diff_id"]}
        if isinstance(record.get("copies"), dict):
            entry["copies"] = record["copies"]
        out[key] = entry
    doc = {"version": 1, "steps": out, "memos": dict(sorted(memos.items()))}
    if not inline:
        doc["layers"] = list(diff_ids)
    return doc


def _is_copies(c) -> bool:
    """The build record's account of a COPY: {"from": {"context"|"stage"|"image": ...},
    "paths": [[source, destination], ...], "truncated": bool}."""
    if not isinstance(c, dict) or set(c) != {"from", "paths", "truncated"} or not isinstance(c["truncated"], bool):
        return False
    origin, paths = c["from"], c["paths"]
    if not isinstance(origin, dict) or len(origin) != 1 or not (
            origin.get("context") is True or isinstance(origin.get("stage"), int) and not isinstance(
                origin.get("stage"), bool) or isinstance(origin.get("image"), str)):
        return False
    return isinstance(paths, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) and len(x) <= MAX_TEXT for x in p)
        for p in paths)


def _is_key(k) -> bool:
    return isinstance(k, str) and len(k) == 64 and all(c in "0123456789abcdef" for c in k)


def decode(doc, layers: list[dict], diff_ids: list[str] | None = None) -> tuple[dict[str, dict], dict[str, str]]:
    """(steps: key → local record, memos) from a document whose layers are `layers`
    (descriptors, checked by the caller) with `diff_ids` (inline: the config's; else the
    document's own list). A record of a layer not shipped says so: "shipped": False.
    Raises VerificationError when anything is malformed."""
    from distill.documents import checked_descriptor

    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise VerificationError("not a version 1 distill build cache")
    if diff_ids is None:
        diff_ids = doc.get("layers")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layers) or not all(map(digests.is_valid, diff_ids)):
        raise VerificationError("its layer list does not match its manifest")
    steps, memos = doc.get("steps"), doc.get("memos", {})
    if not isinstance(steps, dict) or not isinstance(memos, dict) or len(steps) + len(memos) > MAX_STEPS:
        raise VerificationError("malformed steps or memos")
    records = {}
    for key, entry in steps.items():
        if not _is_key(key) or not isinstance(entry, dict):
            raise VerificationError(f"malformed step {str(key)[:80]!r}")
        created, index, copies = entry.get("created"), entry.get("layer"), entry.get("copies")
        if not isinstance(created, str) or len(created) > 64:
            raise VerificationError(f"step {key}: malformed time")
        if isinstance(index, dict):
            desc, diff_id = index.get("descriptor"), index.get("diff_id")
            if not digests.is_valid(diff_id) or not isinstance(desc, dict) or len(desc) > 8 \
                    or not isinstance(desc.get("mediaType"), str):
                raise VerificationError(f"step {key}: malformed layer")
            record = {"layer": dict(checked_descriptor(desc, f"step {key}")), "diff_id": diff_id,
                      "created": created, "shipped": False}
        elif index is not None and (not isinstance(index, int) or isinstance(index, bool)
                                    or not 0 <= index < len(layers)):
            raise VerificationError(f"step {key}: no layer {index!r}")
        else:
            record = {"layer": dict(layers[index]) if index is not None else None,
                      "diff_id": diff_ids[index] if index is not None else None, "created": created}
        if copies is not None:
            if not _is_copies(copies):
                raise VerificationError(f"step {key}: malformed copies")
            record["copies"] = copies
        records[key] = record
    for key, value in memos.items():
        if not _is_key(key) or not isinstance(value, str) or len(value) > MAX_TEXT:
            raise VerificationError(f"malformed memo {str(key)[:80]!r}")
    return records, dict(memos)
