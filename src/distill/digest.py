"""Content digests: validation before any use, and hashing helpers."""

from __future__ import annotations

import hashlib
import re

from .errors import InvalidDigest

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]+)$")


def validate(digest: str) -> str:
    """Return `digest` unchanged if it is a well-formed sha256/sha512 digest, else raise.

    Digests arrive from registries, manifests and users; they become file names in the
    store, so nothing else (no '/', no '..', no uppercase) may pass.
    """
    if not isinstance(digest, str):
        raise InvalidDigest(f"invalid digest: {digest!r}")
    m = _DIGEST.match(digest)
    if not m:
        raise InvalidDigest(f"invalid digest: {digest[:100]!r}")
    algorithm, hexpart = m.groups()
    if len(hexpart) != _HEX_LENGTH[algorithm]:
        raise InvalidDigest(f"invalid digest: {digest[:100]!r} ({algorithm} needs {_HEX_LENGTH[algorithm]} hex digits)")
    return digest


def is_valid(digest: str) -> bool:
    try:
        validate(digest)
    except InvalidDigest:
        return False
    return True


def split(digest: str) -> tuple[str, str]:
    algorithm, hexpart = validate(digest).split(":", 1)
    return algorithm, hexpart


def hasher(digest: str | None = None):
    """A hashlib object for the algorithm of `digest` (sha256 when none is given)."""
    algorithm = split(digest)[0] if digest else "sha256"
    return hashlib.new(algorithm)


def of_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def short_id(digest: str) -> str:
    """The 12-hex-digit form docker prints as IMAGE ID."""
    return split(digest)[1][:12]
