"""Where a build's result goes: the store (tags), OCI or docker archives, a local
directory (the final stage's files), or a registry (every tag pushed)."""

from __future__ import annotations

from distill.errors import DistillError
from distill.record import Record

TYPES = ("image", "oci", "docker", "local", "registry")


class Output(Record):
    type: str
    dest: str | None = None
    oci_mediatypes: bool = True  # type=registry,oci-mediatypes=false: docker's (a manifest list for several)


def parse_output(text: str) -> Output:
    """`type=local,dest=out`, or a bare path meaning type=local (as docker's -o)."""
    if "=" not in text:
        return Output("local", text)
    fields = {}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        if not eq:
            raise DistillError(f"--output {text!r}: expected key=value pairs")
        fields[k.strip()] = v.strip()
    kind = fields.get("type")
    if kind not in TYPES:
        raise DistillError(f"--output {text!r}: type must be one of {', '.join(TYPES)}")
    dest = fields.get("dest")
    if kind in ("oci", "docker", "local") and not dest:
        raise DistillError(f"--output type={kind} needs dest=PATH")
    oci = fields.get("oci-mediatypes", "true").lower()
    if oci not in ("true", "false") or (oci == "false" and kind != "registry"):
        raise DistillError(f"--output {text!r}: oci-mediatypes=true|false, and false for type=registry only")
    return Output(kind, dest, oci == "true")


def export_local(store, image, dest: str) -> None:
    """The image's files, flattened (whiteouts applied), into `dest`."""
    import os

    from distill.image.layers.blob import apply_layer

    os.makedirs(dest, exist_ok=True)
    for layer in image.layers:
        apply_layer(store, layer, dest, whiteouts="delete")


def write_archive(store, image, names: list[str], kind: str, dest: str) -> None:
    from distill.image.archive import save_to_path

    save_to_path(store, [(image, n) for n in names] or [(image, None)], dest, kind)
