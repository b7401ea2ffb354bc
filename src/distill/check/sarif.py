"""A check report as SARIF 2.1.0, for code-scanning dashboards: one run, the rules that
fired, a result per finding located at its Dockerfile line when the build record knows it."""

from __future__ import annotations

from .rules import RULES

LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def sarif(report: dict, image: str) -> dict:
    fired = sorted({f["rule"] for f in report["findings"]})
    rules = [{"id": r, "shortDescription": {"text": RULES[r][1]},
              "defaultConfiguration": {"level": LEVELS[RULES[r][0]]}} for r in fired]
    results = []
    for f in report["findings"]:
        result = {"ruleId": f["rule"], "ruleIndex": fired.index(f["rule"]), "level": LEVELS[f["severity"]],
                  "message": {"text": f["message"]}, "properties": {"image": image, "path": f.get("path"),
                                                                    "stage": f.get("stage")}}
        if f.get("line") and report.get("dockerfile"):
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": report["dockerfile"]},
                                                         "region": {"startLine": f["line"]}}}]
        results.append(result)
    return {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{"tool": {"driver": {"name": "distill", "rules": rules}}, "results": results}]}
