"""What distill lint looks at in the build context (a real directory)."""

import os


def test_the_context_is_looked_at_for_what_a_dockerignore_should_keep_out(tmp_path):
    from distill.analyze.lint import context_facts

    (tmp_path / ".git").mkdir()
    (tmp_path / "big.bin").write_bytes(b"\0" * (51 << 20))
    facts = context_facts(str(tmp_path))
    assert facts == {"dockerignore": False, "unwanted": [".git"], "biggest": ("big.bin", 51 << 20)}
    (tmp_path / ".dockerignore").write_text(".git\n")
    assert context_facts(str(tmp_path))["dockerignore"] is True


def _lint(tmp_path, *args):
    import json

    from clirun import distill

    r = distill("lint", "--no-shellcheck", "--format", "json", *args, str(tmp_path), check=False)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


DOCKERFILE = "FROM quay.io/debian:12.5\nMAINTAINER me\nCMD python3 app.py\n"


def test_hadolint_s_configuration_is_honoured(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".hadolint.yaml").write_text("ignored: [DL4000]\noverride:\n  error: [DL3025]\n"
                                             "trustedRegistries: [docker.io]\nfailure-threshold: error\n")
    r, findings = _lint(tmp_path)
    got = {(f["rule"], f["severity"]) for f in findings}
    assert ("maintainer-deprecated", "warning") not in got and ("json-args-recommended", "error") in got
    assert ("untrusted-registry", "error") in got and r.returncode == 1
    r, _ = _lint(tmp_path, "--failure-threshold", "none")
    assert r.returncode == 0


def test_distill_s_own_configuration_in_pyproject_or_distill_toml(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "pyproject.toml").write_text("[tool.distill.lint]\nignore = ['maintainer-deprecated']\n"
                                             "failure-threshold = 'error'\n")
    r, findings = _lint(tmp_path)
    assert "maintainer-deprecated" not in {f["rule"] for f in findings} and r.returncode == 0  # warnings only
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / ".distill.toml").write_text("[lint]\noverride = { error = ['DL4000'] }\n")
    r, findings = _lint(tmp_path)
    assert ("maintainer-deprecated", "error") in {(f["rule"], f["severity"]) for f in findings}


def test_label_schema_and_pragma_switches_from_either_configuration(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM debian:12.5\nRUN true\n# hadolint ignore=DL3059\nRUN true\n"
                                         "LABEL version=v1 other=x\n")
    (tmp_path / ".hadolint.yaml").write_text("label-schema:\n  version: semver\n  url: url\nstrict-labels: true\n"
                                             "disable-ignore-pragma: true\n")
    _, findings = _lint(tmp_path)
    got = {(f["rule"], f["line"]) for f in findings}
    assert {("label-not-semver", 5), ("label-superfluous", 5), ("label-missing", 1), ("consecutive-run", 4)} <= got
    (tmp_path / ".hadolint.yaml").unlink()
    (tmp_path / ".distill.toml").write_text("[lint]\nlabel-schema = { version = 'semver' }\n")
    _, findings = _lint(tmp_path)
    got = {(f["rule"], f["line"]) for f in findings}
    assert ("label-not-semver", 5) in got and ("consecutive-run", 4) not in got
    assert not {"label-superfluous", "label-missing"} & {r for r, _ in got}


def test_sarif_output_is_valid_sarif_2_1_0(tmp_path):
    import json

    from clirun import distill
    from sarifschema import assert_valid_sarif

    (tmp_path / "Dockerfile").write_text("FROM debian:12.5 AS build\nRUN cd /x && make\nFROM debian:12.5\n"
                                         "# hadolint ignore=DL3008\nRUN apt-get install -y gcc\nCMD run me\n")
    (tmp_path / ".hadolint.yaml").write_text("override:\n  info: [DL1001]\n")
    r = distill("lint", "--format", "sarif", str(tmp_path), check=False)  # with ShellCheck's findings
    doc = json.loads(r.stdout)
    assert_valid_sarif(doc)
    results = doc["runs"][0]["results"]
    assert {x["ruleId"] for x in results} >= {"cd-in-run", "ignore-pragma", "json-args-recommended"}
    assert all(x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == f"file://{tmp_path}/Dockerfile"
               for x in results)
    for name, text, found in (("clean", "FROM debian:12.5\nUSER 1000\nHEALTHCHECK CMD [\"true\"]\nCMD [\"true\"]\n", 0),
                              ("with space", "FROM debian:12.5\nUSER 1000\nHEALTHCHECK CMD [\"true\"]\nCMD run\n", 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(text)
        doc = json.loads(distill("lint", "--format", "sarif", name, cwd=tmp_path, check=False).stdout)
        assert_valid_sarif(doc)
        uris = [x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for x in doc["runs"][0]["results"]]
        assert uris == ["with%20space/Dockerfile"] * found  # a relative reference, escaped


def test_a_broken_configuration_is_one_clear_error(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".hadolint.yaml").write_text("override:\n  fatal: [DL3025]\n")
    r, _ = _lint(tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown severity 'fatal'" in r.stderr
    assert "Traceback" not in r.stderr
    (tmp_path / ".hadolint.yaml").write_text("label-schema:\n  version: number\n")
    r, _ = _lint(tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "label-schema.version: unknown type 'number'" in r.stderr
    (tmp_path / ".hadolint.yaml").write_text("strict-labels: yes please\n")
    r, _ = _lint(tmp_path)
    assert r.returncode == 2 and "strict-labels must be true or false" in r.stderr


def test_build_prints_the_warnings_of_the_stages_it_builds(store, busybox_store, tmp_path):
    """As BuildKit does: a stage the target does not need is not linted."""
    from bed.images import copy_image
    from buildtools import BUSYBOX
    from clirun import distill

    copy_image(busybox_store, store, BUSYBOX)
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX} AS unused\nCMD echo unused\n"
                                         f"FROM {BUSYBOX}\nMAINTAINER me\nCMD [\"true\"]\n")
    r = distill("build", "-t", "localhost/lint:1", str(tmp_path), root=store.root)
    lines = [line for line in r.stderr.splitlines() if line.startswith(" - ")]
    assert any(line.startswith(" - maintainer-deprecated (MaintainerDeprecated, DL4000):") and
               line.endswith("Dockerfile:4)") for line in lines), r.stderr
    assert not any("json-args-recommended" in line for line in lines)  # only in the stage not built
    r = distill("build", "-q", "-t", "localhost/lint:1", str(tmp_path), root=store.root)
    assert "lint warning" not in r.stderr


def test_dockerfiles_are_named_as_hadolint_takes_them(tmp_path):
    """`distill lint FILE...` and `distill lint -` lint each file alone (no context rules),
    as `hadolint FILE...` does; a directory stays a context."""
    import json

    from clirun import distill

    (tmp_path / "a.Dockerfile").write_text("FROM quay.io/debian:12.5\nMAINTAINER me\nCOPY . /app\n")
    (tmp_path / "b.Dockerfile").write_text("FROM quay.io/debian:latest\nUSER app\n")
    (tmp_path / ".git").mkdir()  # a context rule would report it; a file alone has no context
    r = distill("lint", "--no-shellcheck", "--format", "json", tmp_path / "a.Dockerfile", tmp_path / "b.Dockerfile",
                check=False)
    found = {(os.path.basename(f["file"]), f["line"], a) for f in json.loads(r.stdout) for a in f["aliases"]}
    assert {("a.Dockerfile", 2, "DL4000"), ("b.Dockerfile", 1, "DL3007")} <= found
    assert r.returncode == 1 and "no-dockerignore" not in {f["rule"] for f in json.loads(r.stdout)}
    _, as_context = _lint(tmp_path, "-f", tmp_path / "a.Dockerfile")
    assert ("no-dockerignore", 3) in {(f["rule"], f["line"]) for f in as_context}
    r = distill("lint", "--no-shellcheck", "-", input="FROM quay.io/debian:12.5\nMAINTAINER me\n", check=False)
    assert r.returncode == 1 and "\n-:2: " in r.stdout and "  MAINTAINER me\n  ^" in r.stdout
    r = distill("lint", tmp_path / "missing", check=False)
    assert r.returncode == 2 and r.stderr.strip().startswith("distill: error: cannot read Dockerfile ")
    r = distill("lint", "-f", tmp_path / "a.Dockerfile", tmp_path, tmp_path, check=False)
    assert r.stderr.strip() == "distill: error: -f names the Dockerfile of one context"


def test_the_dockerfiles_own_dockerignore_is_the_one_lint_reads(tmp_path):
    """As the build: `Dockerfile.prod.dockerignore` beside Dockerfile.prod is its ignore
    file, before the context's .dockerignore."""
    from distill.analyze.lint import context_facts

    (tmp_path / ".git").mkdir()
    (tmp_path / "Dockerfile.prod").write_text("FROM scratch\n")
    (tmp_path / "Dockerfile.prod.dockerignore").write_text(".git\nsecret.txt\n")
    facts = context_facts(str(tmp_path), str(tmp_path / "Dockerfile.prod"))
    assert facts["dockerignore"] is True and facts["dockerignore_text"] == ".git\nsecret.txt\n"
    assert context_facts(str(tmp_path), str(tmp_path / "Dockerfile"))["dockerignore"] is False
