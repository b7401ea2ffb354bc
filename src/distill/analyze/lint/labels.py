"""The value types of a label schema (hadolint's `label-schema`: label → type), each a
pure test of a LABEL's value."""

from __future__ import annotations

import re
from datetime import datetime

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_NUMBER = r"(?:0|[1-9]\d*)"
_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-{_IDENT}(?:\.{_IDENT})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"(?:{_ATOM}(?:\.{_ATOM})*|\"(?:[^\"\\\r\n]|\\.)*\")@(?:{_LABEL}(?:\.{_LABEL})*|\[[^\[\]\\\s]*\])")
_GIT_HASH = re.compile(r"[0-9a-f]{7}|[0-9a-f]{40}")


def is_url(v: str) -> bool:
    return bool(_URI.fullmatch(v))


def is_rfc3339(v: str) -> bool:
    if not _RFC3339.fullmatch(v):
        return False
    try:
        datetime.fromisoformat(v.replace("z", "Z").replace("t", "T"))
    except ValueError:  # a 13th month, a 61st second
        return False
    return True


def is_spdx(v: str) -> bool:
    """One SPDX licence identifier (not an expression), as packaging knows the list."""
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    if not v or any(c.isspace() or c in "()" for c in v) or v.startswith("LicenseRef-"):
        return False
    try:
        canonicalize_license_expression(v)
    except InvalidLicenseExpression:
        return False
    return True


def is_semver(v: str) -> bool:
    return bool(_SEMVER.fullmatch(v))


def is_email(v: str) -> bool:
    return bool(_EMAIL.fullmatch(v))


def is_git_hash(v: str) -> bool:
    return bool(_GIT_HASH.fullmatch(v))


# type → (test, rule broken when it fails)
TYPES = {
    "text": (None, None),
    "url": (is_url, "label-not-url"),
    "rfc3339": (is_rfc3339, "label-not-rfc3339"),
    "spdx": (is_spdx, "label-not-spdx"),
    "hash": (is_git_hash, "label-not-git-hash"),
    "semver": (is_semver, "label-not-semver"),
    "email": (is_email, "label-not-email"),
}
