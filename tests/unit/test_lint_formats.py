"""distill lint's formats, each read back by a parser of its kind."""

import json
import xml.etree.ElementTree as ET

from distill.analyze.lint import lint
from distill.analyze.lint.formats import as_checkstyle, as_gitlab, as_junit, as_sarif

TEXT = "FROM debian\nMAINTAINER me & <you>\nCMD python3 app.py\n"


def findings():
    return lint(TEXT, "app/Dockerfile", shellcheck=False)


def test_sarif_has_a_rule_per_fired_id_and_a_located_result_per_finding():
    doc = json.loads(as_sarif(findings()))
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert ids == sorted({f["rule"] for f in findings()})
    for result, f in zip(run["results"], findings()):
        assert ids[result["ruleIndex"]] == result["ruleId"] == f["rule"]
        assert result["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "app/Dockerfile"},
                                                              "region": {"startLine": f["line"]}}
        assert result["level"] in ("error", "warning", "note")


def test_checkstyle_is_xml_with_an_error_per_finding_under_its_alias():
    root = ET.fromstring(as_checkstyle(findings()))
    (file,) = root.findall("file")
    errors = file.findall("error")
    assert file.get("name") == "app/Dockerfile" and len(errors) == len(findings())
    maintainer = next(e for e in errors if e.get("line") == "2")
    assert maintainer.get("source") == "MaintainerDeprecated" and maintainer.get("severity") == "warning"


def test_gitlab_code_quality_items_have_what_gitlab_reads():
    items = json.loads(as_gitlab(findings()))
    assert len(items) == len(findings()) == len({i["fingerprint"] for i in items})
    for item in items:
        assert set(item) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert item["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert item["location"]["path"] == "app/Dockerfile" and item["location"]["lines"]["begin"] >= 1


def test_junit_counts_a_failure_per_finding_and_passes_a_clean_file():
    suite = ET.fromstring(as_junit(findings(), "app/Dockerfile")).find("testsuite")
    assert int(suite.get("failures")) == len(suite.findall("testcase")) == len(findings())
    clean = ET.fromstring(as_junit([], "app/Dockerfile")).find("testsuite")
    assert clean.get("failures") == "0" and len(clean.findall("testcase")) == 1
