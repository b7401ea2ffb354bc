"""`distill scan`: every package of an image (packages.py) matched against the local OSV
database with its ecosystem's own version order. Debian's and Alpine's records name
source packages, so a binary package is looked up by its source (Debian: at the source
version, which a binNMU's `+bN` does not change). Pure but for the database reads."""

from __future__ import annotations

from distill.analyze.vuln.osv import SEVERITIES, affects, fixed_in, severity
from distill.analyze.vuln.versions import order


def ecosystem_of(c: dict, distro: dict[str, str]) -> tuple[str, str, str] | None:
    """(OSV ecosystem, package name, version) a component is looked up as, or None."""
    if c["type"] == "dpkg" and distro.get("ID") == "debian" and distro.get("VERSION_ID"):
        return f"Debian:{distro['VERSION_ID'].split('.')[0]}", c["source"], c["source_version"]
    if c["type"] == "apk" and distro.get("ID") == "alpine" and distro.get("VERSION_ID"):
        return f"Alpine:v{'.'.join(distro['VERSION_ID'].split('.')[:2])}", c["source"], c["version"]
    if c["type"] == "python":
        return "PyPI", c["name"], c["version"]
    if c["type"] == "npm":
        return "npm", c["name"], c["version"]
    if c["type"] == "go" and c["version"] != "(devel)":
        return "Go", c["name"], c["version"]
    return None


def match(components: list[dict], distro: dict[str, str], db) -> list[dict]:
    findings = []
    for c in components:
        where = ecosystem_of(c, distro)
        if where is None:
            continue
        eco, name, version = where
        compare = order(eco)
        if compare is None:
            continue
        for record in db.records(eco, name):
            for a in record.get("affected") or []:
                pkg = a.get("package") or {}
                if pkg.get("ecosystem") != eco or not affects(a, version, compare):
                    continue
                findings.append({"id": record["id"], "aliases": record.get("aliases") or [], "package": c["name"],
                                 "type": c["type"], "installed": c["version"], "ecosystem": eco,
                                 "source": name if name != c["name"] else None, "fixed": fixed_in(a),
                                 "severity": severity(record, a), "summary": record.get("summary") or "",
                                 "layer": c.get("layer"), "stage": c.get("stage"), "line": c.get("line"),
                                 "path": c.get("path")})
                break
    findings.sort(key=lambda f: (-SEVERITIES.index(f["severity"]), f["package"], f["id"]))
    return findings


def ignored_ids(text: str) -> set[str]:
    """IDs to leave out: an OpenVEX document's not_affected and fixed statements, or a plain
    list (one ID a line, # comments)."""
    import json

    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        out = set()
        for st in doc.get("statements") or []:
            if isinstance(st, dict) and st.get("status") in ("not_affected", "fixed"):
                v = st.get("vulnerability")
                name = v.get("name") if isinstance(v, dict) else v
                if isinstance(name, str):
                    out.add(name)
        return out
    return {line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()}


def keep(findings: list[dict], ignore: set[str], ignore_unfixed: bool) -> list[dict]:
    return [f for f in findings if not ({f["id"], *f["aliases"]} & ignore) and not (ignore_unfixed and not f["fixed"])]


def fails(findings: list[dict], threshold: str | None) -> bool:
    if not threshold:
        return False
    return any(SEVERITIES.index(f["severity"]) >= SEVERITIES.index(threshold) for f in findings)


LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "info", "negligible": "info",
         "unknown": "info"}


def as_sarif(result: dict) -> dict:
    """A scan as SARIF 2.1.0: a rule a vulnerability, a result a vulnerable package, at the
    Dockerfile line that brought it when the build record says."""
    from distill.analyze.sarif import sarif

    dockerfile = result.get("dockerfile")
    summaries = {f["id"]: (LEVEL[f["severity"]], f["summary"] or f["id"]) for f in result["findings"]}
    findings = [{"rule": f["id"], "severity": LEVEL[f["severity"]], "line": f.get("line"),
                 "message": f"{f['package']} {f['installed']}" + (f" ({f['source']})" if f.get("source") else "") +
                            f": {f['summary'] or f['id']}; " +
                            (f"fixed in {', '.join(f['fixed'])}" if f["fixed"] else "no fixed version"),
                 **{k: f.get(k) for k in ("package", "installed", "ecosystem", "stage", "layer")}}
                for f in result["findings"]]
    return sarif(findings, lambda r: summaries[r],
                 lambda f: (dockerfile, f["line"]) if dockerfile and f.get("line") else None,
                 lambda f: {"image": result["image"], **{k: f[k] for k in ("package", "installed", "ecosystem",
                                                                          "stage", "layer") if f[k] is not None}})
