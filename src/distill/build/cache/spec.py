"""--cache-to and --cache-from, as BuildKit spells them:

    type=registry,ref=REF[,mode=min|max]   an artifact in a registry (a bare REF: this)
    type=local,dest=DIR / type=local,src=DIR   an OCI layout on disk
    type=inline                            the records in the built image's own config

mode=min (the default) shares the steps of the stages the image is made of; max, every
stage built."""

from __future__ import annotations

from distill.errors import DistillError
from distill.record import Record

TYPES = ("registry", "local", "inline")


class CacheSpec(Record):
    type: str
    ref: str | None = None     # registry
    path: str | None = None    # local
    mode: str = "min"


def parse_cache(text: str, flag: str) -> CacheSpec:
    """One --cache-to (`flag`) or --cache-from value."""
    exporting = flag == "--cache-to"
    if "=" not in text:
        if exporting:
            raise DistillError(f"{flag} {text!r}: expected type=registry,ref=REF (or type=local|inline)")
        return CacheSpec("registry", ref=text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        if not eq or not k.strip():
            raise DistillError(f"{flag} {text!r}: expected key=value pairs")
        fields[k.strip()] = v.strip()
    kind = fields.pop("type", "registry")
    if kind not in TYPES or (kind == "inline" and not exporting):
        allowed = TYPES if exporting else TYPES[:2]
        raise DistillError(f"{flag} {text!r}: type must be one of {', '.join(allowed)}")
    mode = fields.pop("mode", "min")
    if mode not in ("min", "max"):
        raise DistillError(f"{flag} {text!r}: mode must be min or max")
    where = "dest" if exporting else "src"
    if kind == "registry":
        ref = fields.pop("ref", None)
        if not ref:
            raise DistillError(f"{flag} {text!r}: type=registry needs ref=REF")
        spec = CacheSpec(kind, ref=ref, mode=mode)
    elif kind == "local":
        path = fields.pop(where, None)
        if not path:
            raise DistillError(f"{flag} {text!r}: type=local needs {where}=DIR")
        spec = CacheSpec(kind, path=path, mode=mode)
    else:
        spec = CacheSpec(kind, mode="min")
    fields.pop("ignore-error", None)  # BuildKit's; failures to export are errors here, to import warnings
    if fields:
        raise DistillError(f"{flag} {text!r}: unknown key {sorted(fields)[0]!r}")
    return spec
