"""distill check: images that build fine but cannot start, one per rule, and images that
can start (no false alarms); every verdict is held against what running the image does."""

import json
import shutil
import subprocess

import pytest

from bed.images import copy_image
from buildtools import BUSYBOX, build, write_context
from clirun import distill
from sarifschema import assert_valid_sarif

FROM = f"FROM {BUSYBOX}"
SCRIPT = "printf '#!/bin/sh\\nexit 0\\n' > /usr/local/bin/tool && chmod 755 /usr/local/bin/tool"

# name: (Dockerfile, context files, expected verdict, the rule of the first error)
CASES = {
    "program left in a builder stage": (
        f"{FROM} AS builder\nRUN mkdir -p /usr/local/bin && {SCRIPT}\n"
        f"{FROM}\nCOPY --from=builder /etc/passwd /app/passwd\nCMD [\"tool\"]\n", {}, "fail", "not-on-path"),
    "no exec bit": (f"{FROM}\nCOPY --chmod=644 run.sh /run.sh\nCMD [\"/run.sh\"]\n",
                    {"run.sh": "#!/bin/sh\nexit 0\n"}, "fail", "no-exec-bit"),
    "#!/usr/bin/env python3 without python3": (f"{FROM}\nCOPY --chmod=755 app.py /app.py\nCMD [\"/app.py\"]\n",
                                               {"app.py": "#!/usr/bin/env python3\nprint(1)\n"}, "fail",
                                               "env-target-missing"),
    "#! interpreter missing": (f"{FROM}\nCOPY --chmod=755 app.py /app.py\nCMD [\"/app.py\"]\n",
                               {"app.py": "#!/usr/bin/python3\nprint(1)\n"}, "fail", "interpreter-missing"),
    "#! interpreters in a cycle": (f"{FROM}\nCOPY --chmod=755 a b /\nCMD [\"/a\"]\n",
                                   {"a": "#!/b\n", "b": "#!/a\n"}, "fail", "interpreter-loop"),
    "CRLF #! line": (f"{FROM}\nCOPY --chmod=755 run.sh /run.sh\nCMD [\"/run.sh\"]\n",
                     {"run.sh": "#!/bin/sh\r\nexit 0\r\n"}, "fail", "shebang-crlf"),
    "dynamic program in scratch": ("FROM scratch\nCOPY true /true\nCMD [\"/true\"]\n", {"true": "<host true>"},
                                   "fail", "elf-interp-missing"),
    "unknown USER": (f"{FROM}\nUSER nosuch\nCMD [\"true\"]\n", {}, "fail", "user-unknown"),
    "shell form without a shell": ("FROM scratch\nCOPY busybox /bb\nCMD echo hi\n", {"busybox": "<busybox>"},
                                   "fail", "shell-missing"),
    "dangling symlink": (f"{FROM}\nRUN ln -s /nope /app\nCMD [\"/app\"]\n", {}, "fail", "dangling-symlink"),
    "shell form, command missing": (f"{FROM}\nCMD gunicorn app:main\n", {}, "fail", "command-not-found"),
    "no command": ("FROM scratch\nCOPY busybox /bb\n", {"busybox": "<busybox>"}, "fail", "no-command"),
    # and images that start: no false alarms
    "busybox true": (f"{FROM}\nCMD [\"true\"]\n", {}, "ok", None),
    "static program in scratch": ("FROM scratch\nCOPY busybox /busybox\nCMD [\"/busybox\", \"true\"]\n",
                                  {"busybox": "<busybox>"}, "ok", None),
    "numeric USER": (f"{FROM}\nUSER 4242:4242\nCMD [\"true\"]\n", {}, "ok", None),
    "script with an exec bit": (f"{FROM}\nCOPY --chmod=755 run.sh /run.sh\nCMD [\"/run.sh\"]\n",
                                {"run.sh": "#!/bin/sh\nexit 0\n"}, "ok", None),
    "#!/usr/bin/env sh": (f"{FROM}\nCOPY --chmod=755 run.sh /run.sh\nCMD [\"/run.sh\"]\n",
                          {"run.sh": "#!/usr/bin/env sh\nexit 0\n"}, "ok", None),
    "program copied from a builder stage": (
        f"{FROM} AS builder\nRUN mkdir -p /usr/local/bin && {SCRIPT}\n"
        f"{FROM}\nCOPY --from=builder /usr/local/bin/tool /usr/local/bin/tool\nCMD [\"tool\"]\n", {}, "ok", None),
    "shell form": (f"{FROM}\nCMD exit 0\n", {}, "ok", None),
    "ENTRYPOINT and CMD": (f"{FROM}\nENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD [\"exit 0\"]\n", {}, "ok", None),
}


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def context(tmp_path, files):
    files = dict(files)
    host_true = shutil.which("true")
    for name, content in list(files.items()):
        if content == "<host true>":
            files[name] = open(host_true, "rb").read()
        elif content == "<busybox>":
            files[name] = open("/bin/busybox", "rb").read()
    ctx = write_context(tmp_path / "ctx", files)
    for name in files:
        (ctx / name).chmod(0o755 if name in ("true", "busybox") else 0o644)
    return ctx


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_verdict_is_what_running_it_does(store, tmp_path, case):
    dockerfile, files, verdict, rule = CASES[case]
    build(store, context(tmp_path, files), dockerfile, tags=["localhost/check:1"])
    r = distill("check", "--format", "json", "localhost/check:1", root=store.root, check=False)
    report = json.loads(r.stdout)
    assert (report["verdict"], r.returncode) == (verdict, 0 if verdict == "ok" else 1), report
    errors = [f["rule"] for f in report["findings"] if f["severity"] == "error"]
    assert errors[:1] == ([rule] if rule else []), report
    if rule == "no-command":
        return  # `distill run` refuses before starting anything
    ran = subprocess.run(["timeout", "30", *_distill_run(store)], capture_output=True, text=True)
    assert (ran.returncode == 0) == (verdict == "ok"), (ran.returncode, ran.stderr)


def _distill_run(store, ref="localhost/check:1"):
    import sys

    return [sys.executable, "-m", "distill", "--root", str(store.root), "run", "--network", "none", ref]


def test_a_missing_program_is_found_in_the_stage_that_has_it(store, tmp_path):
    build(store, context(tmp_path, {}), CASES["program left in a builder stage"][0], tags=["localhost/check:1"])
    report = json.loads(distill("check", "--format", "json", "localhost/check:1", root=store.root,
                                check=False).stdout)
    (finding,) = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["found_in"] == {"stage": "builder", "path": "/usr/local/bin/tool", "line": 2,
                                   "instruction": f"RUN mkdir -p /usr/local/bin && {SCRIPT}"}
    assert (finding["stage"], finding["line"]) == ("stage-1", 5)  # the CMD
    assert "the final stage copies only /etc/passwd (Dockerfile:4) from `builder`" in finding["message"]
    assert "COPY --from=builder /usr/local/bin/tool /usr/local/bin/tool" in finding["message"]
    text = distill("check", "localhost/check:1", root=store.root, check=False)
    assert text.returncode == 1 and text.stdout.splitlines()[-1] == "localhost/check:1: will NOT start"


def test_an_image_that_cannot_be_read_is_exit_2(store):
    r = distill("check", "localhost/nothing:here", root=store.root, check=False)
    assert r.returncode == 2 and r.stderr.startswith("distill: error: ")


def test_build_check_fails_the_build_of_an_image_that_cannot_start(store, tmp_path):
    ctx = context(tmp_path, {})
    (ctx / "Dockerfile").write_text(CASES["program left in a builder stage"][0])
    r = distill("build", "-q", "--check", "-t", "localhost/check:2", ctx, root=store.root, check=False)
    assert r.returncode == 1 and "error: not-on-path: the command 'tool'" in r.stderr
    assert r.stderr.strip().endswith("but it will not start (see above): not tagged")
    assert distill("inspect", "localhost/check:2", root=store.root, check=False).returncode != 0  # not named
    (ctx / "Dockerfile").write_text(CASES["program copied from a builder stage"][0])
    assert distill("build", "-q", "--check", "-t", "localhost/check:2", ctx, root=store.root).returncode == 0
    assert distill("inspect", "localhost/check:2", root=store.root).returncode == 0


@pytest.fixture
def linked(tmp_path):
    """A program built here, linked against a library of its own found through
    RUNPATH $ORIGIN/../lib (gcc and libc6-dev come with the test setup)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "foo.c").write_text("int foo(void) { return 0; }\n")
    (src / "prog.c").write_text("int foo(void);\nint main(void) { return foo(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", src / "libfoo.so", src / "foo.c"], check=True)
    subprocess.run(["gcc", "-o", src / "prog", src / "prog.c", "-L", src, "-lfoo", "-Wl,-rpath,$ORIGIN/../lib",
                    "-Wl,--enable-new-dtags"], check=True)
    return src


@pytest.mark.parametrize("with_library", [True, False], ids=["library copied", "library left out"])
def test_shared_libraries_are_found_as_the_loader_finds_them(python_store, tmp_path, linked, with_library):
    from bed.images import PYTHON_BASE

    store = python_store
    ctx = write_context(tmp_path / "ctx", {"prog": (linked / "prog").read_bytes(),
                                           "libfoo.so": (linked / "libfoo.so").read_bytes()})
    (ctx / "prog").chmod(0o755)
    copy_lib = "COPY libfoo.so /app/lib/libfoo.so\n" if with_library else ""
    build(store, ctx, f"FROM {PYTHON_BASE}\nCOPY prog /app/bin/prog\n{copy_lib}CMD [\"/app/bin/prog\"]\n",
          tags=["localhost/check:lib"])
    r = distill("check", "--format", "json", "localhost/check:lib", root=store.root, check=False)
    report = json.loads(r.stdout)
    if with_library:
        assert (report["verdict"], report["findings"]) == ("ok", [])
    else:
        (finding,) = report["findings"]
        assert (finding["rule"], finding["library"], finding["binary"]) == ("library-missing", "libfoo.so",
                                                                            "/app/bin/prog")
    ran = subprocess.run(["timeout", "30", *_distill_run(store, "localhost/check:lib")], capture_output=True, text=True)
    assert (ran.returncode == 0) == with_library, ran.stderr
    if not with_library:
        assert "libfoo.so: cannot open shared object file" in ran.stderr


@pytest.mark.parametrize("program", ["/usr/bin/python3", "/usr/bin/true", "/usr/bin/gcc"])
def test_the_elf_reader_agrees_with_readelf(program):
    """What check/elf.py reads of real programs is what binutils' readelf says."""
    import os
    import re

    from distill.analyze.check.elf import parse

    real = os.path.realpath(program)
    facts = parse(open(real, "rb").read())
    dynamic = subprocess.run(["readelf", "-dW", real], capture_output=True, text=True, check=True).stdout
    headers = subprocess.run(["readelf", "-lW", real], capture_output=True, text=True, check=True).stdout
    assert facts["needed"] == re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
    interp = re.search(r"Requesting program interpreter: (.+?)\]", headers)
    assert facts["interp"] == (interp.group(1) if interp else None)
    runpath = re.search(r"\(RUNPATH\)\s+Library runpath: \[(.+?)\]", dynamic)
    assert facts["runpath"] == (runpath.group(1) if runpath else None)


@pytest.mark.parametrize("case, started", [("program left in a builder stage", False), ("busybox true", True),
                                           ("script with an exec bit", True)])
def test_check_run_confirms_the_verdict(store, tmp_path, case, started):
    dockerfile, files, verdict, _ = CASES[case]
    build(store, context(tmp_path, files), dockerfile, tags=["localhost/check:run"])
    r = distill("check", "--run", "2", "--format", "json", "localhost/check:run", root=store.root, check=False)
    report = json.loads(r.stdout)
    assert report["run"]["started"] is started and (report["verdict"] == "ok") is started
    if not started:
        assert report["run"]["exit_code"] != 0 and report["run"]["stderr"]


def test_check_run_says_a_long_running_process_started(store, tmp_path):
    build(store, context(tmp_path, {}), f"{FROM}\nCMD [\"sleep\", \"30\"]\n", tags=["localhost/check:long"])
    r = distill("check", "--run", "1", "localhost/check:long", root=store.root)
    assert r.stdout.splitlines()[-1] == "run: started (still running after 1 s)"
    import os

    assert os.listdir(os.path.join(store.root, "containers")) == []  # stopped and removed


def test_a_virtual_environment_copied_to_another_path(python_store, tmp_path):
    """The venv's console script names the interpreter at the path the venv was made at;
    copied elsewhere, the script's #! points at nothing. check says which COPY moved it."""
    from bed.images import PYTHON_BASE

    text = (f"FROM {PYTHON_BASE} AS builder\nRUN python3 -m venv --without-pip /opt/venv && "
            "printf '#!/opt/venv/bin/python3\\nprint(1)\\n' > /opt/venv/bin/tool && chmod 755 /opt/venv/bin/tool\n"
            f"FROM {PYTHON_BASE}\nCOPY --from=builder /opt/venv /venv\nCMD [\"/venv/bin/tool\"]\n")
    build(python_store, None, text, tags=["localhost/check:venv"])
    r = distill("check", "--run", "5", "--format", "json", "localhost/check:venv", root=python_store.root, check=False)
    report = json.loads(r.stdout)
    (finding,) = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["rule"] == "interpreter-missing" and finding["path"] == "/opt/venv/bin/python3"
    assert "the final stage copies /opt/venv to /venv (Dockerfile:4)" in finding["message"], finding["message"]
    assert finding["found_in"]["line"] == 2  # the RUN that made the venv
    assert "COPY --from=builder /opt/venv /opt/venv" in finding["message"]
    assert report["run"]["started"] is False  # and running it agrees
    ok = text.replace("COPY --from=builder /opt/venv /venv", "COPY --from=builder /opt/venv /opt/venv").replace(
        '"/venv/bin/tool"', '"/opt/venv/bin/tool"')
    build(python_store, None, ok, tags=["localhost/check:venv2"])
    r = distill("check", "--run", "5", "--format", "json", "localhost/check:venv2", root=python_store.root)
    assert json.loads(r.stdout)["verdict"] == "ok" and json.loads(r.stdout)["run"]["started"] is True


def test_sarif_locates_each_finding_at_its_dockerfile_line(store, tmp_path):
    ctx = context(tmp_path, {})
    build(store, ctx, CASES["program left in a builder stage"][0], tags=["localhost/check:1"])
    doc = json.loads(distill("check", "--format", "sarif", "localhost/check:1", root=store.root, check=False).stdout)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["not-on-path"]
    (result,) = run["results"]
    assert (result["ruleId"], result["level"], result["ruleIndex"]) == ("not-on-path", "error", 0)
    location = result["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": f"file://{ctx / 'Dockerfile'}"}, "region": {"startLine": 5}}
    assert_valid_sarif(doc)


@pytest.mark.parametrize("libc, where", [("real", "/lib/x86_64-linux-gnu"), ("too old", "/lib/x86_64-linux-gnu"),
                                         ("real", "/lib64")])
def test_glibc_symbol_versions_are_checked(store, tmp_path, libc, where):
    """A program linked here needs GLIBC_2.34 (every program linked on glibc 2.34 or newer
    does); in a scratch image with the real loader and a libc.so.6 that defines only
    GLIBC_2.2.5, the loader refuses it before it runs, and check says so. Debian's loader
    does not look in /lib64 (its own default dirs, compiled in, are read from it)."""
    import os

    src = tmp_path / "src"
    src.mkdir()
    (src / "prog.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", src / "prog", src / "prog.c"], check=True)
    if libc == "real":
        lib = open(os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6"), "rb").read()
    else:
        (src / "v.map").write_text("GLIBC_2.2.5 { global: *; };\n")
        (src / "fake.c").write_text("int __libc_start_main(void) { return 0; }\n")
        subprocess.run(["gcc", "-shared", "-nostdlib", "-fPIC", "-Wl,-soname,libc.so.6",
                        f"-Wl,--version-script={src / 'v.map'}", "-o", src / "libc.so.6", src / "fake.c"], check=True)
        lib = (src / "libc.so.6").read_bytes()
    loader = open(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), "rb").read()
    ctx = write_context(tmp_path / "ctx", {"prog": (src / "prog").read_bytes(), "libc.so.6": lib, "ld.so": loader})
    for name in ("prog", "ld.so"):
        (ctx / name).chmod(0o755)
    build(store, ctx, f"FROM scratch\nCOPY ld.so /lib64/ld-linux-x86-64.so.2\nCOPY libc.so.6 {where}/libc.so.6\n"
          "COPY prog /prog\nCMD [\"/prog\"]\n", tags=["localhost/check:glibc"])
    report = json.loads(distill("check", "--format", "json", "localhost/check:glibc", root=store.root,
                                check=False).stdout)
    ran = subprocess.run(["timeout", "30", *_distill_run(store, "localhost/check:glibc")], capture_output=True,
                         text=True)
    if where == "/lib64":
        (finding,) = report["findings"]
        assert (finding["rule"], finding["library"]) == ("library-missing", "libc.so.6")
        assert ran.returncode != 0 and "libc.so.6: cannot open shared object file" in ran.stderr
    elif libc == "real":
        assert (report["verdict"], report["findings"]) == ("ok", []) and ran.returncode == 0, ran.stderr
    else:
        (finding,) = report["findings"]
        assert (finding["rule"], finding["library"]) == ("symbol-version-missing", "libc.so.6")
        assert "GLIBC_2.34" in finding["message"]
        assert ran.returncode != 0 and "version `GLIBC_2.34' not found" in ran.stderr


@pytest.fixture(scope="module")
def musl_built(tmp_path_factory):
    """A program and a library built with musl-gcc (Debian's musl-tools), the program
    linked against the library by name only (no RUNPATH)."""
    src = tmp_path_factory.mktemp("musl")
    (src / "foo.c").write_text("int foo(void) { return 0; }\n")
    (src / "prog.c").write_text("int foo(void);\nint main(void) { return foo(); }\n")
    subprocess.run(["musl-gcc", "-shared", "-fPIC", "-o", src / "libfoo.so", src / "foo.c"], check=True)
    subprocess.run(["musl-gcc", "-o", src / "prog", src / "prog.c", "-L", src, "-lfoo"], check=True)
    return src


@pytest.mark.parametrize("program, lib_dir, path_file, rule", [
    ("musl", "/usr/local/lib", None, None),
    ("musl", "/opt/lib", None, "library-missing"),
    ("musl", "/opt/lib", "/opt/lib\n", None),
    ("glibc", "/usr/local/lib", None, "elf-interp-missing"),
], ids=["musl's default path", "a dir musl does not search", "the dir in musl's path file", "a glibc program"])
def test_a_musl_userland(store, tmp_path, musl_built, program, lib_dir, path_file, rule):
    """scratch with musl's loader (Debian's musl package): musl programs find libraries in
    /lib:/usr/local/lib:/usr/lib or /etc/ld-musl-x86_64.path; a glibc program has no loader."""
    import os

    files = {"ld-musl": open(os.path.realpath("/lib/ld-musl-x86_64.so.1"), "rb").read(),
             "libfoo.so": (musl_built / "libfoo.so").read_bytes(),
             "prog": (musl_built / "prog").read_bytes() if program == "musl" else open(shutil.which("true"), "rb").read()}
    if path_file:
        files["path"] = path_file
    ctx = write_context(tmp_path / "ctx", files)
    for name in ("ld-musl", "prog"):
        (ctx / name).chmod(0o755)
    text = (f"FROM scratch\nCOPY ld-musl /lib/ld-musl-x86_64.so.1\nCOPY libfoo.so {lib_dir}/libfoo.so\n"
            "COPY prog /prog\n" + ("COPY path /etc/ld-musl-x86_64.path\n" if path_file else "") + "CMD [\"/prog\"]\n")
    build(store, ctx, text, tags=["localhost/check:musl"])
    report = json.loads(distill("check", "--run", "5", "--format", "json", "localhost/check:musl", root=store.root,
                                check=False).stdout)
    first = next((f["rule"] for f in report["findings"] if f["severity"] == "error"), None)
    assert first == rule, report["findings"]
    assert report["run"]["started"] is (rule is None), report["run"]


def test_a_library_left_in_a_builder_stage_is_found_there(python_store, tmp_path, linked):
    from bed.images import PYTHON_BASE

    ctx = write_context(tmp_path / "ctx", {"prog": (linked / "prog").read_bytes(),
                                           "libfoo.so": (linked / "libfoo.so").read_bytes()})
    (ctx / "prog").chmod(0o755)
    build(python_store, ctx, f"FROM {PYTHON_BASE} AS build\nCOPY prog /app/bin/prog\nCOPY libfoo.so /app/lib/\n"
          f"FROM {PYTHON_BASE}\nCOPY --from=build /app/bin /app/bin\nCMD [\"/app/bin/prog\"]\n",
          tags=["localhost/check:libstage"])
    r = distill("check", "--run", "5", "--format", "json", "localhost/check:libstage", root=python_store.root,
                check=False)
    report = json.loads(r.stdout)
    (finding,) = report["findings"]
    assert finding["rule"] == "library-missing"
    assert finding["found_in"] == {"stage": "build", "path": "/app/lib/libfoo.so", "line": 3,
                                   "instruction": "COPY libfoo.so /app/lib/"}
    assert "the final stage copies only /app/bin (Dockerfile:5) from `build`" in finding["message"]
    assert report["run"]["started"] is False


def test_a_run_that_fails_outweighs_the_reading_and_run_may_come_first(store, tmp_path):
    build(store, context(tmp_path, {}), f'{FROM}\nCMD ["sh", "-c", "exit 2"]\n', tags=["localhost/check:exits"])
    r = distill("check", "--run", "localhost/check:exits", root=store.root, check=False)  # --run before the image
    assert r.returncode == 1
    assert "localhost/check:exits: will NOT start (confirmed by running)" in r.stdout.splitlines()
    assert "run: did not start (exited 2)" in r.stdout.splitlines()
    report = json.loads(distill("check", "--format", "json", "--run", "2", "localhost/check:exits", root=store.root,
                                check=False).stdout)
    assert report["verdict"] == "fail" and report["confirmed_by_run"] is True


def test_findings_name_the_dockerfile_the_image_was_built_from(store, tmp_path):
    ctx = context(tmp_path, {})
    (ctx / "Dockerfile.omp2").write_text(CASES["program left in a builder stage"][0])
    distill("build", "-q", "-f", ctx / "Dockerfile.omp2", "-t", "localhost/check:omp2", ctx, root=store.root)
    r = distill("check", "localhost/check:omp2", root=store.root, check=False, cwd=tmp_path)
    assert r.returncode == 1 and ", ctx/Dockerfile.omp2:" in r.stdout and ", Dockerfile:" not in r.stdout


def test_a_library_left_in_the_builder_names_the_package_to_install(python_store, tmp_path):
    """An OpenMP program built where gcc brought libgomp1, run where nothing did: the fix
    names the package, from the builder stage's dpkg lists; and running it agrees."""
    from bed.images import CROSS_BASE, CROSS_PACKAGES, PYTHON_BASE, cached_base

    cached_base(python_store, CROSS_BASE, CROSS_PACKAGES)
    ctx = context(tmp_path, {"omp.c": "#include <omp.h>\n#include <stdio.h>\n"
                                      "int main(void) { printf(\"%d\\n\", omp_get_max_threads() > 0); return 0; }\n"})
    build(python_store, ctx, f"FROM {CROSS_BASE} AS build\nCOPY omp.c /src/\nRUN gcc -fopenmp -o /omp /src/omp.c\n"
                             f"FROM {PYTHON_BASE}\nCOPY --from=build /omp /usr/local/bin/omp\nCMD [\"omp\"]\n",
          tags=["localhost/check:omp"])
    r = distill("check", "--run", "3", "--format", "json", "localhost/check:omp", root=python_store.root, check=False)
    report = json.loads(r.stdout)
    (finding,) = [f for f in report["findings"] if f["rule"] == "library-missing"]
    assert finding["library"] == "libgomp.so.1"
    assert "Fix: install libgomp1 (the package that has it in `build`) in the final stage" in finding["message"]
    assert report["run"]["started"] is False
