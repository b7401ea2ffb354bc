"""RUN --mount specifications: type=bind|cache|secret|ssh|tmpfs and their options."""

from __future__ import annotations


from distill.errors import DockerfileError
from distill.record import Record

TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")
_ALIASES = {"dst": "target", "destination": "target", "src": "source", "ro": "readonly", "rw": "readwrite"}
_ALLOWED = {
    "bind": {"target", "source", "from", "readonly", "readwrite"},
    "cache": {"target", "id", "sharing", "from", "source", "mode", "uid", "gid", "readonly", "readwrite"},
    "tmpfs": {"target", "size"},
    "secret": {"id", "target", "required", "mode", "uid", "gid", "env"},
    "ssh": {"id", "target", "required", "mode", "uid", "gid"},
}
_BOOLS = {"readonly", "readwrite", "required"}


class Mount(Record):
    type: str
    target: str | None = None
    source: str | None = None
    from_: str | None = None
    id: str | None = None
    readonly: bool | None = None
    sharing: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: str | None = None
    required: bool = False
    env: str | None = None
    raw: str = ""  # the spec as written, for messages

    _uncompared = frozenset({"raw"})


def parse_mount(spec: str) -> Mount:
    import csv  # here: most Dockerfiles have no RUN --mount

    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        raise DockerfileError(f"invalid mount spec {spec!r}") from None
    kv: dict[str, str | None] = {}
    for f in fields:
        key, eq, value = f.partition("=")
        key = _ALIASES.get(key.strip().lower(), key.strip().lower())
        if not key:
            raise DockerfileError(f"invalid field '' in mount {spec!r}")
        kv[key] = value if eq else None
    mtype = (kv.pop("type", None) or "bind").lower()
    if mtype not in TYPES:
        raise DockerfileError(f"unsupported mount type {mtype!r} (bind, cache, tmpfs, secret, ssh)")
    for key in kv:
        if key not in _ALLOWED[mtype]:
            raise DockerfileError(f"unexpected key {key!r} for mount type {mtype}")
    for key, value in kv.items():
        if value is None and key not in _BOOLS:
            raise DockerfileError(f"invalid field {key!r} in mount: it needs a value")
    out: dict = {"type": mtype, "raw": spec}

    def boolean(key):
        v = kv[key]
        if v is None or v.lower() in ("true", "1"):
            return True
        if v.lower() in ("false", "0"):
            return False
        raise DockerfileError(f"invalid value {v!r} for {key} in mount")

    def integer(key, base=10):
        try:
            return int(kv[key], base)
        except (TypeError, ValueError):
            raise DockerfileError(f"invalid value {kv[key]!r} for {key} in mount") from None

    if "readonly" in kv:
        out["readonly"] = boolean("readonly")
    if "readwrite" in kv:
        out["readonly"] = not boolean("readwrite")
    if "required" in kv:
        out["required"] = boolean("required")
    for key in ("target", "source", "id", "size", "env"):
        if key in kv:
            out[key] = kv[key]
    if "from" in kv:
        out["from_"] = kv["from"]
    if "sharing" in kv:
        if kv["sharing"].lower() not in SHARING:
            raise DockerfileError(f"unsupported sharing value {kv['sharing']!r} (shared, private, locked)")
        out["sharing"] = kv["sharing"].lower()
    if "mode" in kv:
        out["mode"] = integer("mode", 8)
    for key in ("uid", "gid"):
        if key in kv:
            out[key] = integer(key)
    if mtype in ("bind", "cache", "tmpfs") and not out.get("target"):
        raise DockerfileError(f"mount type {mtype} requires a target")
    if mtype == "secret" and not out.get("id") and not out.get("target"):
        raise DockerfileError("secret mount requires an id or a target")
    return Mount(**out)
