"""`distill check`: will the image start? A static verdict over its files (imagefs), with
what is missing and, through the build record, which stage has it."""

from __future__ import annotations

from distill.analyze.check.rules import RULES
from distill.analyze.check.start import Finding, Start

__all__ = ["RULES", "Finding", "check"]


def check(store, fs, image, record: dict | None) -> dict:
    """{"verdict": "ok"|"fail", "findings": [...]} for `image` (image.Image) read through
    `fs` (its ImageFS)."""
    start = Start(fs, image.config)
    findings = start.run()
    if record:
        from distill.analyze.check.stages import attribute

        attribute(store, record, findings, start.facts.get("python"))
    verdict = "fail" if any(f["severity"] == "error" for f in findings) else "ok"
    report = {"verdict": verdict, "findings": findings, **start.facts}
    if record and (record.get("dockerfile") or {}).get("path"):
        report["dockerfile"] = record["dockerfile"]["path"]
    return report
