"""Findings as SARIF 2.1.0, for code-scanning dashboards: one run, the rules that fired,
one result per finding, located at its file and line when known. Shared by check and lint."""

from __future__ import annotations

from distill import __version__

LEVELS = {"error": "error", "warning": "warning", "info": "note", "style": "note"}


def sarif(findings: list[dict], describe, location, properties=lambda f: {}) -> dict:
    """`describe(rule)` → (severity, title); `location(finding)` → (uri, line) or None."""
    fired = sorted({f["rule"] for f in findings})
    rules = []
    for r in fired:
        severity, title = describe(r)
        rules.append({"id": r, "shortDescription": {"text": title},
                      "defaultConfiguration": {"level": LEVELS[severity]}})
    results = []
    for f in findings:
        result = {"ruleId": f["rule"], "ruleIndex": fired.index(f["rule"]), "level": LEVELS[f["severity"]],
                  "message": {"text": f["message"]}}
        extra = properties(f)
        if extra:
            result["properties"] = extra
        where = location(f)
        if where:
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": file_uri(where[0])},
                                                         "region": {"startLine": where[1]}}}]
        results.append(result)
    return {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{"tool": {"driver": {"name": "distill", "version": __version__, "semanticVersion": __version__,
                                          "rules": rules}}, "results": results}]}


def file_uri(path: str) -> str:
    """A path as SARIF's artifactLocation.uri wants it: a file: URI when absolute, else a
    relative reference; either way with forward slashes and percent-escapes."""
    from urllib.parse import quote

    path = path.replace("\\", "/")
    return "file://" + quote(path) if path.startswith("/") else quote(path)
