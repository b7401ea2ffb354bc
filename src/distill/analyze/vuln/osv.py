"""Whether an OSV record affects a version (osv-schema: `affected[].versions` lists it, or
a range's events put it inside: sorted by version, `introduced` opens ("0": from the
start), `fixed` closes at that version, `last_affected` after it; `limit` bounds the
search). GIT ranges name commits, not versions: they are not used. Pure."""

from __future__ import annotations

import functools


def affects(affected: dict, version: str, compare) -> bool:
    if version in (affected.get("versions") or []):
        return True
    for r in affected.get("ranges") or []:
        if r.get("type") in ("ECOSYSTEM", "SEMVER") and _in_range(r.get("events") or [], version, compare):
            return True
    return False


def _in_range(events: list[dict], version: str, compare) -> bool:
    points = []
    for e in events:
        if not isinstance(e, dict) or len(e) != 1:
            continue
        (kind, value), = e.items()
        if kind in ("introduced", "fixed", "last_affected", "limit") and isinstance(value, str):
            points.append((kind, value))

    def by_version(x, y):
        if x[0] == "introduced" and x[1] == "0":
            return -1 if not (y[0] == "introduced" and y[1] == "0") else 0
        if y[0] == "introduced" and y[1] == "0":
            return 1
        return compare(x[1], y[1])

    try:
        points.sort(key=functools.cmp_to_key(by_version))
        limits = [v for k, v in points if k == "limit"]
        if limits and all(compare(version, lim) >= 0 for lim in limits):
            return False
        inside = False
        for kind, value in points:
            if kind == "introduced":
                if value == "0" or compare(version, value) >= 0:
                    inside = True
            elif kind == "fixed":
                if compare(version, value) >= 0:
                    inside = False
                elif inside:
                    return True
            elif kind == "last_affected":
                if compare(version, value) > 0:
                    inside = False
                elif inside:
                    return True
        return inside
    except ValueError:
        return False  # a version this order cannot read: no claim either way


def fixed_in(affected: dict) -> list[str]:
    return [e["fixed"] for r in affected.get("ranges") or [] if r.get("type") in ("ECOSYSTEM", "SEMVER")
            for e in r.get("events") or [] if isinstance(e, dict) and isinstance(e.get("fixed"), str)]


SEVERITIES = ("unknown", "negligible", "low", "medium", "high", "critical")


def severity(record: dict, affected: dict | None = None) -> str:
    """The record's severity word: the ecosystem's own (database_specific.severity, as
    GitHub's and Debian's), else one from a CVSS v3 score OSV gives, else unknown."""
    for where in ((affected or {}).get("ecosystem_specific"), (affected or {}).get("database_specific"),
                  record.get("database_specific")):
        word = (where or {}).get("severity") if isinstance(where, dict) else None
        if isinstance(word, str) and word.lower() in SEVERITIES:
            return word.lower()
        if isinstance(word, str) and word.lower() == "moderate":
            return "medium"
    for s in record.get("severity") or []:
        if isinstance(s, dict) and str(s.get("type", "")).startswith("CVSS_V3"):
            score = cvss3_score(str(s.get("score", "")))
            if score is not None:
                return "critical" if score >= 9 else "high" if score >= 7 else "medium" if score >= 4 else \
                    "low" if score > 0 else "negligible"
    return "unknown"


_W = {"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}, "AC": {"L": 0.77, "H": 0.44},
      "UI": {"N": 0.85, "R": 0.62}, "C": {"H": 0.56, "L": 0.22, "N": 0}, "I": {"H": 0.56, "L": 0.22, "N": 0},
      "A": {"H": 0.56, "L": 0.22, "N": 0}}


def _roundup(x: float) -> float:
    i = round(x * 100000)
    return i / 100000.0 if i % 10000 == 0 else (i // 10000 + 1) / 10.0


def cvss3_score(vector: str) -> float | None:
    """The base score of a CVSS 3.x vector (the specification's formula), None if it is
    not one."""
    try:
        m = dict(p.split(":", 1) for p in vector.split("/")[1:])
        scope = m["S"]
        pr = {"N": 0.85, "L": 0.68 if scope == "C" else 0.62, "H": 0.5 if scope == "C" else 0.27}[m["PR"]]
        iss = 1 - (1 - _W["C"][m["C"]]) * (1 - _W["I"][m["I"]]) * (1 - _W["A"][m["A"]])
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if scope == "C" else 6.42 * iss
        exploit = 8.22 * _W["AV"][m["AV"]] * _W["AC"][m["AC"]] * pr * _W["UI"][m["UI"]]
    except (KeyError, ValueError):
        return None
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploit) if scope == "C" else impact + exploit
    return _roundup(min(total, 10))
