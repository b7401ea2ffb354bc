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


def clean_manifest(doc: dict, what: str) -> dict:
    """A manifest whose config and layers are descriptors (Unreadable otherwise: a layer
    cannot be skipped, the config's diffIDs match them by position)."""
    config, layers = doc.get("config"), doc.get("layers") or []
    if not isinstance(config, dict) or not isinstance(layers, list) or \
            not all(isinstance(d, dict) and isinstance(d.get("digest"), str) and isinstance(d.get("size", 0), int)
                    and isinstance(d.get("mediaType", ""), str) for d in layers):
        raise Unreadable(f"manifest {what}: its config or layers are not descriptors")
    return doc
