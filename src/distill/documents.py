"""JSON documents from strangers (an image's index, manifest and config; a package's
metadata): parsed within bounds, and an image config's fields given the types the code
reads. A field of another type is dropped with a notice; the image is still read."""

from __future__ import annotations

import json

from distill.errors import Unreadable


def parse(data: bytes | str, what: str):
    """The JSON value of `data`; Unreadable (one line, exit 2) when it is not JSON or is
    nested past what the parser recurses into."""
    try:
        return json.loads(data)
    except RecursionError:
        raise Unreadable(f"{what}: JSON nested too deep") from None
    except (ValueError, UnicodeDecodeError):
        raise Unreadable(f"{what}: not valid JSON") from None


def parse_object(data: bytes | str, what: str) -> dict:
    doc = parse(data, what)
    if not isinstance(doc, dict):
        raise Unreadable(f"{what}: not a JSON object")
    return doc


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# the fields of an image config the code reads, and the type each must have
_TOP = {"architecture": str, "os": str, "variant": str, "created": str, "author": str, "os.version": str,
        "config": dict, "rootfs": dict, "history": list}
_CONFIG = {"User": str, "WorkingDir": str, "StopSignal": str, "Env": _strings, "Cmd": _strings,
           "Entrypoint": _strings, "Shell": _strings, "OnBuild": _strings, "ExposedPorts": dict, "Volumes": dict,
           "Labels": dict, "Healthcheck": dict, "ArgsEscaped": bool}
_HISTORY = {"created": str, "created_by": str, "comment": str, "author": str, "empty_layer": bool}


def _fits(value, kind) -> bool:
    if value is None:
        return True  # JSON null: as absent
    return kind(value) if callable(kind) and not isinstance(kind, type) else isinstance(value, kind)


def _keep_fitting(doc: dict, fields: dict, where: str, notes: list[str]) -> dict:
    out = {}
    for key, value in doc.items():
        kind = fields.get(key)
        if kind is _strings and isinstance(value, list) and not _strings(value):
            notes.append(f"{where}{key} holds items that are not strings: those ignored")
            value = [v for v in value if isinstance(v, str)]
        elif kind is not None and not _fits(value, kind):
            notes.append(f"{where}{key} is not {_name(kind)}: ignored")
            continue
        out[key] = value
    return out


def _name(kind) -> str:
    return "a list of strings" if kind is _strings else {str: "a string", dict: "an object", list: "a list",
                                                         bool: "true or false"}[kind]


def clean_config(doc: dict, what: str = "image config") -> tuple[dict, list[str]]:
    """`doc` with every field the code reads of its type (those that are not dropped),
    and what was dropped. rootfs.diff_ids must be a list of strings: the layers are
    matched by it (Unreadable otherwise)."""
    notes: list[str] = []
    out = _keep_fitting(doc, _TOP, f"{what}: ", notes)
    if isinstance(out.get("config"), dict):
        config = _keep_fitting(out["config"], _CONFIG, f"{what}: config.", notes)
        labels = config.get("Labels")
        if isinstance(labels, dict) and not all(isinstance(v, str) for v in labels.values()):
            notes.append(f"{what}: config.Labels holds values that are not strings: those ignored")
            config["Labels"] = {k: v for k, v in labels.items() if isinstance(v, str)}
        out["config"] = config
    rootfs = out.get("rootfs") or {}
    if "diff_ids" in rootfs and not _strings(rootfs["diff_ids"]):
        raise Unreadable(f"{what}: rootfs.diff_ids is not a list of strings")
    if isinstance(out.get("history"), list):
        history = []
        for i, entry in enumerate(out["history"]):
            if not isinstance(entry, dict):
                notes.append(f"{what}: history[{i}] is not an object: ignored")
                continue
            history.append(_keep_fitting(entry, _HISTORY, f"{what}: history[{i}].", notes))
        out["history"] = history
    return out, notes


def checked_descriptor(d, what: str) -> dict:
    """`d` when it is a descriptor: an object with a valid digest and a size of 0 or more."""
    from distill import digest as digests
    from distill.errors import VerificationError

    if not isinstance(d, dict):
        raise VerificationError(f"{what}: malformed descriptor")
    digests.validate(d.get("digest"))
    size = d.get("size")
    if not isinstance(size, int) or size < 0:
        raise VerificationError(f"{what}: descriptor {d.get('digest')} has an invalid size")
    return d


def clean_manifest(doc: dict, what: str) -> dict:
    """A manifest whose config and layers are descriptors (a layer cannot be skipped: the
    config's diffIDs match them by position)."""
    layers = doc.get("layers") or []
    if not isinstance(layers, list):
        raise Unreadable(f"manifest {what}: its layers are not a list")
    for d in [doc.get("config"), *layers]:
        checked_descriptor(d, f"manifest {what}")
        if not isinstance(d.get("mediaType", ""), str):
            raise Unreadable(f"manifest {what}: a descriptor's mediaType is not a string")
    return doc
