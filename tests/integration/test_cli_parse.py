"""`distill parse` from the command line: dump, plan, errors and warnings."""

import json
from clirun import distill
from vectors import buildkit_vectors


def test_dump_is_byte_for_byte():
    case = buildkit_vectors() / "testfiles" / "brimstone-consuldock"
    r = distill("parse", "-f", case / "Dockerfile", "--dump")
    assert r.stdout == (case / "result").read_text()


def test_plan_json(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text("ARG V=1\nFROM alpine:$V AS build\nRUN make\nFROM build AS unused\nRUN false\n"
                  "FROM scratch\nCOPY --from=build /out /out\n")
    r = distill("parse", "-f", df, "--json", "--build-arg", "V=2", "--build-arg", "EXTRA=1")
    plan = json.loads(r.stdout)
    assert plan["builds"] == ["build", "2"]
    assert plan["stages"][0]["from"]["ref"] == "docker.io/library/alpine:2"
    assert plan["stages"][1]["built"] is False
    assert plan["stages"][2]["steps"][0] == {"line": 7, "instruction": "COPY", "args": {
        "sources": ["/out"], "dest": "/out", "chown": None, "chmod": None, "link": False, "parents": False,
        "exclude": [], "from": {"stage": 0}}}
    assert "warning: build-args were not consumed: EXTRA" in r.stderr
    r = distill("parse", "-f", df, "--target", "unused")
    assert json.loads(r.stdout)["builds"] == ["build", "unused"]


def test_error_is_path_line_message(tmp_path):
    df = tmp_path / "Dockerfile.bad"
    df.write_text("FROM alpine\n\nCOPY --frm=x a b\n")
    r = distill("parse", "-f", df, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == f"{df}:3: unknown flag: --frm for COPY (allowed: --from, --chown, --chmod, --link, --parents, --exclude)"


def test_stdin_and_warnings_do_not_fail():
    r = distill("parse", "-f", "-", "--dump", input="FROM x\nRUN a \\\n\n b\n")
    assert r.returncode == 0 and r.stdout == '(from "x")\n(run "a  b")\n'
    assert "<stdin>:2: empty continuation line" in r.stderr


def test_unknown_target_fails_cleanly(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text("FROM a AS x\n")
    r = distill("parse", "-f", df, "--target", "y", check=False)
    assert r.returncode == 1 and "target stage 'y' could not be found" in r.stderr
    assert "Traceback" not in r.stderr
