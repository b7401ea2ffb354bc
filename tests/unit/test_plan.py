"""The stage graph: ARG scopes, stage references, pruning, and its errors."""

import pytest

from distill.build.dockerfile.instructions import Copy, Run, parse_duration
from distill.errors import DockerfileError
from distill.build.plan import make_plan
from distill.build.plan.model import progress_labels, progress_title
from distill.build.plan.ports import exposed_ports
from distill.platform import Platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")


def plan(text, **kw):
    kw.setdefault("target_platform", AMD64)
    kw.setdefault("build_platform", AMD64)
    return make_plan(text.encode(), **kw)


def args_of(p, stage, n):
    return p.stages[stage].steps[n].args.to_json()


def test_global_arg_in_from_and_build_arg_override():
    text = "ARG V=3.11\nARG BASE=python:${V}-slim\nFROM $BASE\n"
    assert plan(text).stages[0].base == "docker.io/library/python:3.11-slim"
    assert plan(text, build_args={"V": "3.12"}).stages[0].base == "docker.io/library/python:3.12-slim"
    assert plan(text, build_args={"BASE": "alpine"}).stages[0].base == "docker.io/library/alpine:latest"


def test_global_arg_needs_redeclaring_inside_a_stage():
    p = plan("ARG V=1\nFROM scratch\nENV A=${V}x\nARG V\nENV B=${V}x\n")
    assert args_of(p, 0, 0) == {"pairs": [["A", "x"]]}
    assert args_of(p, 0, 2) == {"pairs": [["B", "1x"]]}


def test_stage_arg_default_and_override():
    p = plan("FROM scratch\nARG A=def\nARG B\nWORKDIR /$A/$B\n", build_args={"B": "bee"})
    assert args_of(p, 0, 2) == {"path": "/def/bee"}
    assert dict(p.stages[0].steps[2].env) == {"A": "def", "B": "bee"}


def test_env_wins_over_arg_of_the_same_name():
    p = plan("FROM scratch\nARG X=arg\nENV X=env\nWORKDIR /$X\n", build_args={"X": "cli"})
    assert args_of(p, 0, 2) == {"path": "/env"}


def test_an_arg_after_env_of_the_same_name_wins_in_the_build_env():
    """BuildKit keeps one build environment, where the later write wins; an ARG redeclared
    without a value changes nothing."""
    p = plan("FROM scratch\nENV X=env\nARG X=arg\nWORKDIR /$X\nARG X\nWORKDIR $X\n")
    assert args_of(p, 0, 2) == {"path": "/arg"}
    assert args_of(p, 0, 4) == {"path": "/arg/arg"}


def test_a_stage_inherits_the_args_of_its_base_stage():
    p = plan("FROM scratch AS a\nARG X=1\nENV E=e\nFROM a\nARG Y=${X}2\nRUN true\n")
    run = p.stages[1].steps[1]
    assert dict(run.env) == {"X": "1", "E": "e", "Y": "12"}
    assert run.args.build_args == (("X", "1"), ("Y", "12"))
    p = plan("FROM scratch AS a\nARG X=1\nFROM scratch\nRUN true\n")  # an unrelated stage does not
    assert dict(p.stages[1].steps[0].env) == {} and args_of(p, 1, 0)["build_args"] == []


def test_the_base_stage_env_is_applied_over_its_args_in_a_child():
    p = plan("FROM scratch AS a\nENV X=env\nARG X=arg\nFROM a\nRUN true\n")
    assert dict(p.stages[1].steps[0].env) == {"X": "env"}
    assert args_of(p, 1, 0)["build_args"] == [["X", "env"]]


def test_run_lists_the_args_in_scope_once_each_and_unset_ones_empty():
    p = plan("ARG G=g\nFROM scratch\nARG X=1\nARG X\nARG U\nARG G\nRUN true\n")
    assert args_of(p, 0, 4)["build_args"] == [["X", "1"], ["U", ""], ["G", "g"]]


def test_predefined_platform_args():
    text = "FROM --platform=$BUILDPLATFORM scratch AS b\nARG TARGETARCH\nARG TARGETPLATFORM\nENV T=$TARGETARCH P=$TARGETPLATFORM\n"
    p = plan(text, target_platform=ARM64)
    assert p.stages[0].platform == "linux/amd64"
    assert args_of(p, 0, 2) == {"pairs": [["T", "arm64"], ["P", "linux/arm64/v8"]]}
    p = plan("FROM scratch\nENV T=$TARGETARCH\n", target_platform=ARM64)
    assert args_of(p, 0, 0) == {"pairs": [["T", ""]]}  # not declared in the stage: not visible


def test_unconsumed_build_args_warn_but_proxies_do_not():
    p = plan("ARG USED\nFROM scratch\n", build_args={"USED": "1", "NOPE": "2", "HTTP_PROXY": "x"})
    assert p.warnings == ("build-args were not consumed: NOPE",)


def test_named_and_numeric_stage_references_and_pruning():
    text = (
        "FROM alpine AS build\nRUN make\n"
        "FROM build AS test\nRUN false\n"
        "FROM scratch AS assets\nCOPY a /a\n"
        "FROM debian\nCOPY --from=build /out /out\nCOPY --from=2 /a /a\nCOPY --from=nginx:1 /etc/nginx /n\n"
    )
    p = plan(text)
    assert [s.name for s in p.stages] == ["build", "test", "assets", None]
    assert p.stages[1].base_kind == "stage" and p.stages[1].base_stage == 0
    assert p.target == 3 and p.build_order == (0, 2, 3)  # 'test' is never built
    final = p.stages[3]
    assert [s.stage_deps for s in final.steps] == [(0,), (2,), ()]
    assert final.steps[2].image_deps == ("docker.io/library/nginx:1",)
    p = plan(text, target="test")
    assert p.build_order == (0, 1)
    p = plan(text, target="TEST")  # stage names are case-insensitive
    assert p.target == 1


def test_run_mount_from_stage_is_a_dependency():
    p = plan("FROM alpine AS deps\nFROM alpine AS x\nFROM alpine\nRUN --mount=type=bind,from=deps,target=/d ls /d\n")
    assert p.build_order == (0, 2)
    assert args_of(p, 2, 0)["mounts"] == [{"type": "bind", "target": "/d", "from": {"stage": 0}, "required": False}]


def test_copy_from_expands_args():
    p = plan("FROM alpine AS one\nFROM alpine\nARG SRC=one\nCOPY --from=$SRC /a /b\n")
    assert p.build_order == (0, 1)


@pytest.mark.parametrize("text, message, line", [
    ("FROM a AS x\nFROM b AS x\n", "duplicate stage name 'x'", 2),
    ("FROM a AS scratch\n", "reserved", 1),
    ("FROM a AS context\n", "reserved", 1),
    ("FROM a AS 1st\n", "can't start with a number", 1),
    ("FROM x AS x\n", "refers to itself", 1),
    ("FROM later\nFROM a AS later\n", "defined later", 1),
    ("FROM a AS one\nCOPY --from=one /a /b\n", "refers to itself", 2),
    ("FROM a\nCOPY --from=1 /a /b\nFROM b\n", "current or a later stage", 2),
    ("FROM a\nCOPY --from=0 /a /b\n", "current or a later stage", 2),
    ("FROM a\nCOPY --from=two /a /b\nFROM b AS two\n", "defined later", 2),
    ("RUN echo\nFROM a\n", "no build stage", 1),
    ("ARG A\n", "no FROM", 0),
    ("FROM a\nCOPY --nope=1 a b\n", "unknown flag: --nope", 2),
    ("FROM a\nCOPY --from a b\n", "missing a value on flag: --from", 2),
    ("FROM a\nCOPY --link=maybe a b\n", "expecting boolean", 2),
    ("FROM a\nCOPY onlyone\n", "at least two arguments", 2),
    ("FROM a\nRUN --mount=type=nfs,target=/x ls\n", "unsupported mount type", 2),
    ("FROM a\nRUN --mount=type=cache ls\n", "requires a target", 2),
    ("FROM a\nRUN --mount=type=cache,target=/x,sharing=all ls\n", "sharing", 2),
    ("FROM a\nRUN --mount=type=tmpfs,target=/x,from=y ls\n", "unexpected key 'from'", 2),
    ("FROM a\nRUN --network=bridge ls\n", "invalid --network", 2),
    ("FROM a\nHEALTHCHECK --interval=fast CMD x\n", "invalid duration", 2),
    ("FROM a\nHEALTHCHECK NONE x\n", "takes no arguments", 2),
    ("FROM a\nHEALTHCHECK PING x\n", "unknown type", 2),
    ("FROM a\nONBUILD FROM b\n", "isn't allowed as an ONBUILD trigger", 2),
    ("FROM a\nONBUILD ONBUILD RUN x\n", "isn't allowed", 2),
    ("FROM a\nSHELL /bin/bash -c\n", "JSON form", 2),
    ("FROM a\nFROMM b\n", "unknown instruction: FROMM", 2),
    ("FROM a b\n", "one or three arguments", 1),
    ("FROM a\nWORKDIR ${X\n", "missing '}'", 2),
    ("FROM $NOPE\n", "expanded to nothing", 1),
    ("FROM a\nEXPOSE\n", "EXPOSE requires", 2),
    ("FROM a\nRUN []\n", "RUN requires at least one argument", 2),
    ("FROM a\nSTOPSIGNAL NOSUCH\n", "Invalid signal: NOSUCH", 2),
    ("FROM a\nARG S=0\nSTOPSIGNAL $S\n", "Invalid signal: 0", 3),
])
def test_plan_errors(text, message, line):
    with pytest.raises(DockerfileError, match=message) as e:
        plan(text)
    assert e.value.line == line


def test_bare_run_cmd_and_entrypoint_are_shell_forms_of_nothing():
    """As BuildKit takes them: `RUN` runs `sh -c ""`, `CMD` and `ENTRYPOINT` set it."""
    steps = plan("FROM a\nRUN\nCMD\nENTRYPOINT\n").stages[0].steps
    assert [(s.args.shell_form, s.args.args) for s in steps] == [(True, ())] * 3


@pytest.mark.parametrize("sig", ["SIGTERM", "term", "9", "SIGRTMIN+3", "rtmax-2", "sigusr1", "+15"])
def test_stopsignal_takes_what_docker_takes(sig):
    assert args_of(plan(f"FROM a\nSTOPSIGNAL {sig}\n"), 0, 0) == {"signal": sig}


@pytest.mark.parametrize("text, ns", [("0", 0), ("30s", 30 * 10**9), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9),
                                      ("500ms", 5 * 10**8), ("2us", 2000), ("3µs", 3000), ("7ns", 7)])
def test_durations_as_go_reads_them(text, ns):
    assert parse_duration(text, "interval") == ns


@pytest.mark.parametrize("text", ["", "30", "s", "30s\n", "1d", "-1s", "30 s", "1m30"])
def test_durations_refused(text):
    with pytest.raises(DockerfileError, match="invalid duration for --interval"):
        parse_duration(text, "interval")


def test_unknown_target():
    with pytest.raises(DockerfileError, match="target stage 'nope' could not be found"):
        plan("FROM a AS x\n", target="nope")


def test_instructions_are_typed():
    p = plan("FROM a\nRUN --mount=type=secret,id=tok,env=TOKEN --network=none ./build\n"
             "COPY --chown=app:app --chmod=0755 --exclude=*.pyc --parents src/ /app/\n")
    run, copy = (s.instruction for s in p.stages[0].steps)
    assert isinstance(run, Run) and run.network == "none" and run.mounts[0].env == "TOKEN"
    assert isinstance(copy, Copy) and copy.chown == "app:app" and copy.exclude == ("*.pyc",) and copy.parents


def test_expansion_of_copy_workdir_expose_volume_label_user():
    p = plan('FROM a\nARG D=/srv P="80 443"\nENV U=app\nWORKDIR $D\nWORKDIR sub\nCOPY ${D}/x $D/y/\n'
             'EXPOSE $P 8080/udp\nVOLUME ["$D/data"]\nLABEL "com.x.$U"="v $U"\nUSER $U:$U\n'
             'RUN echo $D\nCMD echo $D\n')
    steps = {s.line: s.args.to_json() for s in p.stages[0].steps}
    assert steps[4] == {"path": "/srv"} and steps[5] == {"path": "/srv/sub"}
    assert steps[6]["sources"] == ["/srv/x"] and steps[6]["dest"] == "/srv/y/"
    assert steps[7] == {"ports": ["80/tcp", "443/tcp", "8080/udp"]}
    assert steps[8] == {"paths": ["/srv/data"]}
    assert steps[9] == {"pairs": [["com.x.app", "v app"]]}
    assert steps[10] == {"user": "app:app"}
    assert steps[11]["args"] == ["echo $D"] and steps[12]["args"] == ["echo $D"]  # not expanded


@pytest.mark.parametrize("spec, ports", [
    ("80", ["80/tcp"]), ("80/", ["80/tcp"]), ("53/UDP", ["53/udp"]), ("8000-8002", ["8000/tcp", "8001/tcp", "8002/tcp"]),
    ("7000-7001/sctp", ["7000/sctp", "7001/sctp"]), ("8080:80", ["80/tcp"]), ("127.0.0.1:8080:80/udp", ["80/udp"]),
])
def test_expose_reads_port_specs_as_docker_does(spec, ports):
    assert exposed_ports(spec) == ports


@pytest.mark.parametrize("spec", ["http", "80/icmp", "70000", "90-80", "80-", "-1"])
def test_expose_refuses_malformed_ports_at_its_line(spec):
    with pytest.raises(DockerfileError, match="Dockerfile:2: EXPOSE: invalid"):
        plan(f"FROM a\nEXPOSE {spec} 80\n")


def test_expose_names_each_port_once():
    assert args_of(plan("FROM a\nEXPOSE 80 80/tcp 79-81\n"), 0, 0) == {"ports": ["80/tcp", "79/tcp", "81/tcp"]}


def test_base_env_callback_feeds_expansion():
    p = make_plan(b"FROM python\nWORKDIR $PYTHON_HOME/x\n", target_platform=AMD64, build_platform=AMD64,
                  base_env=lambda ref, platform: ["PYTHON_HOME=/usr/local"] if ref.endswith("python:latest") else None)
    assert p.stages[0].steps[0].args.path == "/usr/local/x"


def test_stage_inherits_env_and_workdir_from_its_base_stage():
    p = plan("FROM a AS one\nENV X=1\nWORKDIR /w\nFROM one\nWORKDIR $X\n")
    assert p.stages[1].steps[0].args.path == "/w/1"


def test_progress_labels_are_buildkits():
    """As BuildKit 20.10 printed them for these Dockerfiles: a FROM of an image and each
    RUN, COPY, ADD and WORKDIR counted; unnamed stages `stage-K`; no name when alone."""
    p = plan("FROM img AS builder\nENV A=1\nRUN a\nRUN b\n"
             "FROM img\nCOPY --from=builder /a /a\nCOPY x /\nRUN c\n"
             "FROM scratch\nCOPY --from=1 /a /x\n"
             "FROM builder\nWORKDIR /w\nLABEL a=b\n")
    assert [progress_labels(s, alone=False) for s in p.stages] == [
        ("[builder 1/3]", [None, "[builder 2/3]", "[builder 3/3]"]),
        ("[stage-1 1/4]", ["[stage-1 2/4]", "[stage-1 3/4]", "[stage-1 4/4]"]),
        ("[stage-2]", ["[stage-2 1/1]"]),
        ("[stage-3]", ["[stage-3 1/1]", None]),
    ]
    alone = plan("FROM img\n" + "RUN x\n" * 10).stages[0]
    frm, steps = progress_labels(alone, alone=True)
    assert frm == "[ 1/11]" and steps[0] == "[ 2/11]" and steps[-1] == "[11/11]"


def test_progress_titles_are_buildkits():
    """As BuildKit 20.10 named these steps: variables expanded (RUN keeps quotes, single-
    quoted text and unset names), the keyword upper-cased, spacing as written."""
    p = plan("FROM img\nARG A=argval\nENV E=envval\n"
             "run echo \"$A $E $UNSET\" \\\n  && echo 'q $A'\n"
             'RUN ["echo", "$A"]\n'
             "COPY  --chown=1   f  /d/$A/\n"
             "WORKDIR /w/$E\n"
             "RUN <<EOF\necho a\necho b\nEOF\n")
    shown = [progress_title(s.instruction, s.env_map, "\\") for s in p.stages[0].steps[2:]]
    assert shown == [
        "RUN echo \"argval envval $UNSET\"   && echo 'q $A'",
        'RUN ["echo", "argval"]',
        "COPY  --chown=1   f  /d/argval/",
        "WORKDIR /w/envval",
        "RUN <<EOF (echo a...)",
    ]


def test_steps_carry_typed_arguments():
    p = plan("FROM a AS b\nRUN true\nFROM scratch\nCOPY --from=b /x /y\nADD --chmod=600 f /g\n")
    copy, add = p.stages[1].steps
    assert (copy.args.sources, copy.args.dest, copy.args.from_.stage) == (("/x",), "/y", 0)
    assert add.args.chmod == "600" and add.args.unpack is None
    with pytest.raises(AttributeError):
        copy.args.destination  # a misspelt field fails loudly
    with pytest.raises(AttributeError):
        copy.args.checksum  # COPY has no --checksum: only ADD's arguments do


def test_the_bases_a_run_stands_on_are_those_pulled_to_be_unpacked():
    """A base is unpacked as it is pulled when a stage built runs a RUN on it, itself or
    through a stage FROM it; a base only copied from, or a stage not built, is not."""
    from distill.build.solver.bases import _run_on

    p = plan("FROM a.example/build AS build\nRUN make\n"
             "FROM a.example/tools AS tools\n"
             "FROM tools AS deps\nRUN fetch\n"
             "FROM --platform=linux/arm64 a.example/arm AS arm\nRUN true\n"
             "FROM a.example/unused AS unused\nRUN true\n"
             "FROM a.example/run\nCOPY --from=build /out /\nCOPY --from=deps /d /\nCOPY --from=arm /x /\n")
    assert _run_on(p, AMD64) == {("a.example/build:latest", str(AMD64)), ("a.example/tools:latest", str(AMD64)),
                                 ("a.example/arm:latest", "linux/arm64")}
