"""Content digests: validation before any use, and hashing helpers."""

from __future__ import annotations

from distill.errors import InvalidDigest

try:  # the interpreter's own SHA-256 (a built-in module; _sha256 until 3.12)
    from _sha2 import sha256 as _own_sha256
except ImportError:
    try:
        from _sha256 import sha256 as _own_sha256
    except ImportError:  # pragma: no cover - an interpreter without it
        from hashlib import sha256 as _own_sha256

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_HEX_DIGITS = frozenset("0123456789abcdef")


def validate(digest: str) -> str:
    """Return `digest` unchanged if it is a well-formed sha256/sha512 digest, else raise.

    Digests arrive from registries, manifests and users; they become file names in the
    store, so nothing else (no '/', no '..', no uppercase) may pass.
    """
    if not isinstance(digest, str):
        raise InvalidDigest(f"invalid digest: {digest!r}")
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in _HEX_LENGTH or not hexpart or not _HEX_DIGITS.issuperset(hexpart):
        raise InvalidDigest(f"invalid digest: {digest[:100]!r}")
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


_SMALL = 64 << 10


class Sha256:
    """hashlib.sha256's interface. Up to 64 KiB of data go to the interpreter's own
    SHA-256, more to OpenSSL's (hashlib): ~5x faster here, but loading it takes ~4.5 ms,
    more than a rebuild spends hashing its keys, config and small layers."""

    __slots__ = ("_small", "_big")
    name = "sha256"

    def __init__(self, data=b""):
        self._small, self._big = bytearray(), None
        self.update(data)

    def update(self, data) -> None:
        if self._big is not None:
            self._big.update(data)
        elif len(self._small) + memoryview(data).nbytes <= _SMALL:
            self._small += data
        else:
            import hashlib

            self._big = hashlib.sha256(self._small)
            self._big.update(data)
            self._small = None

    def _done(self):
        return self._big if self._big is not None else _own_sha256(self._small)

    def hexdigest(self) -> str:
        return self._done().hexdigest()

    def digest(self) -> bytes:
        return self._done().digest()


def new_hash(algorithm: str = "sha256"):
    """A hashlib-like object: Sha256, or hashlib's for another algorithm."""
    if algorithm == "sha256":
        return Sha256()
    import hashlib

    return hashlib.new(algorithm)


def hasher(digest: str | None = None):
    """A hash object for the algorithm of `digest` (sha256 when none is given)."""
    return new_hash(split(digest)[0] if digest else "sha256")


def of_bytes(data: bytes, algorithm: str = "sha256") -> str:
    h = new_hash(algorithm)
    h.update(data)
    return f"{algorithm}:{h.hexdigest()}"


def short_id(digest: str) -> str:
    """The 12-hex-digit form docker prints as IMAGE ID."""
    return split(digest)[1][:12]
