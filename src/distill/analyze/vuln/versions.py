"""Each ecosystem's own version order, as OSV ranges need it: dpkg's (deb-version(7)),
apk's (apk-tools), PEP 440 (through packaging) and SemVer 2.0 (npm, Go). Pure. A compare
returns <0, 0 or >0; a version an order cannot read raises ValueError."""

from __future__ import annotations

import re


def _cmp(a, b) -> int:
    return (a > b) - (a < b)


# ---- dpkg ---------------------------------------------------------------------------------
def _dpkg_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _dpkg_part(a: str, b: str) -> int:
    """One of upstream or revision, in alternating non-digit and digit runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        first = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) else 0
            bc = _dpkg_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first:
                first = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first:
            return first
    return 0


_DPKG = re.compile(r"^(?:(\d+):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$")


def dpkg_split(v: str) -> tuple[int, str, str]:
    m = _DPKG.match(v.strip())
    if not m:
        raise ValueError(f"not a Debian version: {v!r}")
    return int(m.group(1) or 0), m.group(2), m.group(3) or ""


def dpkg_compare(a: str, b: str) -> int:
    ea, ua, ra = dpkg_split(a)
    eb, ub, rb = dpkg_split(b)
    if ea != eb:
        return _cmp(ea, eb)
    return _dpkg_part(ua, ub) or _dpkg_part(ra, rb)


# ---- apk ----------------------------------------------------------------------------------
_APK = re.compile(r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:~[0-9a-f]+)?(?:-r(\d+))?$")
_SUFFIXES = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "": 4, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}


def _apk_key(v: str):
    m = _APK.match(v.strip())
    if not m:
        raise ValueError(f"not an Alpine version: {v!r}")
    numbers, letter, suffixes, release = m.groups()
    parts = numbers.split(".")
    # after the first, a part with a leading zero compares as text (apk-tools)
    key = [(0, int(parts[0]), "")] + [(1, 0, p) if p.startswith("0") and len(p) > 1 else (0, int(p), "") for p in parts[1:]]
    sufs = [(_SUFFIXES[s.rstrip("0123456789")], int(s[len(s.rstrip("0123456789")):] or 0))
            for s in suffixes.split("_") if s] or [(_SUFFIXES[""], 0)]
    return key, letter, sufs, int(release or 0)


def apk_compare(a: str, b: str) -> int:
    ka, kb = _apk_key(a), _apk_key(b)
    for x, y in zip(ka[0], kb[0]):
        if x != y:
            return _cmp(x, y)
    if len(ka[0]) != len(kb[0]):
        return _cmp(len(ka[0]), len(kb[0]))
    return _cmp(ka[1:], kb[1:])


# ---- PEP 440 and SemVer -------------------------------------------------------------------
def pep440_compare(a: str, b: str) -> int:
    from packaging.version import InvalidVersion, Version

    try:
        return _cmp(Version(a), Version(b))
    except InvalidVersion as e:
        raise ValueError(str(e)) from None


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _semver_key(v: str):
    m = _SEMVER.match(v.strip())
    if not m:
        raise ValueError(f"not a semantic version: {v!r}")
    pre = m.group(4)
    # a release sorts after its pre-releases; numeric identifiers before alphanumeric ones
    ids = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")] if pre else None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))), ids


def semver_compare(a: str, b: str) -> int:
    (ra, pa), (rb, pb) = _semver_key(a), _semver_key(b)
    if ra != rb:
        return _cmp(ra, rb)
    if pa is None or pb is None:
        return _cmp(pa is None, pb is None)
    return _cmp(pa, pb)


ORDERS = {"Debian": dpkg_compare, "Ubuntu": dpkg_compare, "Alpine": apk_compare, "PyPI": pep440_compare,
          "npm": semver_compare, "Go": semver_compare}


def order(ecosystem: str):
    """The compare of an OSV ecosystem (`Debian:12` is Debian's), or None."""
    return ORDERS.get(ecosystem.split(":", 1)[0])
