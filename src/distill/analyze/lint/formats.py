"""Lint findings in the formats CI systems read: SARIF 2.1.0 (code scanning), checkstyle
XML (Jenkins and most IDEs), GitLab's code quality JSON, JUnit XML (a test per finding)."""

from __future__ import annotations

import hashlib
import json
from xml.sax.saxutils import quoteattr

from distill.analyze.lint.rules import RULES

_GITLAB = {"error": "critical", "warning": "major", "info": "minor", "style": "info"}


def _describe(rule: str) -> tuple[str, str]:
    if rule in RULES:
        return RULES[rule].severity, RULES[rule].title
    return "warning", f"ShellCheck {rule}"


def as_sarif(findings: list[dict]) -> str:
    from distill.analyze.sarif import sarif

    doc = sarif(findings, _describe, lambda f: (f["file"], f["line"]),
                lambda f: {"aliases": f["aliases"]} if f["aliases"] else {})
    return json.dumps(doc, indent=2)


def as_checkstyle(findings: list[dict]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<checkstyle version="4.3">']
    for path in dict.fromkeys(f["file"] for f in findings):
        out.append(f"  <file name={quoteattr(path)}>")
        for f in (f for f in findings if f["file"] == path):
            source = f["aliases"][0] if f["aliases"] else f["rule"]
            out.append(f"    <error line=\"{f['line']}\" column=\"{f['column']}\" severity={quoteattr(f['severity'])} "
                       f"message={quoteattr(f['message'])} source={quoteattr(source)}/>")
        out.append("  </file>")
    out.append("</checkstyle>")
    return "\n".join(out)


def as_gitlab(findings: list[dict]) -> str:
    items = []
    for f in findings:
        key = f"{f['file']}:{f['line']}:{f['rule']}:{f['message']}"
        items.append({"description": f["message"], "check_name": f["rule"],
                      "fingerprint": hashlib.sha256(key.encode()).hexdigest(), "severity": _GITLAB[f["severity"]],
                      "location": {"path": f["file"], "lines": {"begin": f["line"]}}})
    return json.dumps(items, indent=2)


def as_junit(findings: list[dict], path: str) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f"<testsuites><testsuite name={quoteattr('distill lint ' + path)} tests=\"{max(1, len(findings))}\" "
           f"failures=\"{len(findings)}\">"]
    if not findings:
        out.append(f"<testcase name={quoteattr(path)} classname=\"distill.lint\"/>")
    for f in findings:
        name = f"{f['rule']} at line {f['line']}"
        out.append(f"<testcase name={quoteattr(name)} classname={quoteattr(f['file'])}><failure "
                   f"type={quoteattr(f['severity'])} message={quoteattr(f['message'])}/></testcase>")
    out.append("</testsuite></testsuites>")
    return "\n".join(out)


FORMATS = {"sarif": as_sarif, "checkstyle": as_checkstyle, "gitlab": as_gitlab}
