"""A check report as SARIF 2.1.0: each finding at its Dockerfile line when the build
record knows it."""

from __future__ import annotations

from distill.analyze.sarif import sarif as to_sarif
from distill.analyze.check.rules import RULES


def sarif(report: dict, image: str) -> dict:
    dockerfile = report.get("dockerfile")
    return to_sarif(report["findings"], lambda r: (RULES[r][0], RULES[r][1]),
                    lambda f: (dockerfile, f["line"]) if f.get("line") and dockerfile else None,
                    lambda f: {"image": image, "path": f.get("path"), "stage": f.get("stage")})
