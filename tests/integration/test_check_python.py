"""distill check on Python programs: images that build fine but cannot start (a missing
import, a module left in a builder stage, a wheel for another Python or glibc, ...) and
twins that start. Every verdict is held against what starting the image does (--run)."""

import json
import subprocess
import sysconfig

import pytest

from buildtools import build, write_context
from clirun import distill

SITE = "/usr/local/lib/python3.11/dist-packages"
GUNICORN = ("#!/usr/bin/python3\nimport importlib, os, sys\nsys.path.insert(0, os.getcwd())\n"
            "importlib.import_module(sys.argv[-1].split(':')[0])\n")
# Flask's CLI as it finds the application: --app, else FLASK_APP, else wsgi.py or app.py here
FLASK = ("#!/usr/bin/python3\nimport importlib, os, sys\nsys.path.insert(0, os.getcwd())\na = sys.argv[1:]\n"
         "spec = a[a.index('--app') + 1] if '--app' in a else os.environ.get('FLASK_APP')\n"
         "names = [spec.split(':')[0].removesuffix('.py')] if spec else ['wsgi', 'app']\n"
         "for n in names:\n    try:\n        importlib.import_module(n)\n        break\n"
         "    except ModuleNotFoundError as e:\n        if e.name != n or spec:\n            raise\n"
         "else:\n    sys.exit('Error: Could not locate a Flask application.')\n")
EXTENSION_C = r"""
#include <Python.h>
%s
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__speed(void) { %s return PyModule_Create(&def); }
"""


def _run(cmd):
    return "CMD " + json.dumps(cmd) + "\n"


# name: (the final stage's lines after FROM, context files, verdict, first error's rule)
CASES = {
    "a missing import": ("COPY app.py /app/app.py\n" + _run(["python3", "/app/app.py"]),
                         {"app.py": "import flask\n"}, "fail", "import-missing"),
    "a missing import in the application's own module": (
        "COPY app.py helpers.py /app/\n" + _run(["python3", "/app/app.py"]),
        {"app.py": "import helpers\n", "helpers.py": "import json\nimport requests\n"}, "fail", "import-missing"),
    "stdlib imports only": ("COPY app.py /app/app.py\n" + _run(["python3", "/app/app.py"]),
                            {"app.py": "import json, socket, hashlib, ssl, http.server, email.message, xml.dom\n"},
                            "ok", None),
    "an optional import, handled": (
        "COPY app.py /app/app.py\n" + _run(["python3", "/app/app.py"]),
        {"app.py": "try:\n    import ujson as json\nexcept ImportError:\n    import json\n"
                   "def later():\n    import numpy\n"}, "ok", None),
    "python FILE missing": (_run(["python3", "/app/nope.py"]), {}, "fail", "python-file-missing"),
    "python -m a missing module": ("WORKDIR /app\n" + _run(["python3", "-m", "nosuch"]), {}, "fail",
                                   "python-module-missing"),
    "python -m a package without __main__": (
        "WORKDIR /app\nCOPY pkg /app/pkg\n" + _run(["python3", "-m", "pkg"]), {"pkg/__init__.py": ""}, "fail",
        "python-module-missing"),
    "python -m a package": (
        "WORKDIR /app\nCOPY pkg /app/pkg\n" + _run(["python3", "-m", "pkg"]),
        {"pkg/__init__.py": "", "pkg/__main__.py": "from . import core\nfrom .core import x\n",
         "pkg/core.py": "import json\nx = 1\n"}, "ok", None),
    "relative import of a missing module": (
        "WORKDIR /app\nCOPY pkg /app/pkg\n" + _run(["python3", "-m", "pkg"]),
        {"pkg/__init__.py": "", "pkg/__main__.py": "from .core import x\n"}, "fail", "import-missing"),
    "a server's application module missing": (
        "WORKDIR /app\nCOPY --chmod=755 gunicorn /usr/local/bin/gunicorn\n" +
        _run(["gunicorn", "-b", "0.0.0.0:8000", "mysite.wsgi:application"]), {"gunicorn": GUNICORN}, "fail",
        "import-missing"),
    "a server's application module": (
        "WORKDIR /app\nCOPY --chmod=755 gunicorn /usr/local/bin/gunicorn\nCOPY mysite /app/mysite\n" +
        _run(["gunicorn", "-b", "0.0.0.0:8000", "mysite.wsgi:application"]),
        {"gunicorn": GUNICORN, "mysite/__init__.py": "", "mysite/wsgi.py": "application = None\n"}, "ok", None),
    "flask run, the application's import missing": (
        "WORKDIR /app\nCOPY --chmod=755 flask /usr/local/bin/flask\nCOPY app.py /app/\n" + _run(["flask", "run"]),
        {"flask": FLASK, "app.py": "import json\nimport requests\n"}, "fail", "import-missing"),
    "flask run, FLASK_APP": (
        "WORKDIR /app\nENV FLASK_APP=hello.py\nCOPY --chmod=755 flask /usr/local/bin/flask\nCOPY hello.py /app/\n" +
        _run(["flask", "run"]), {"flask": FLASK, "hello.py": "import json\n"}, "ok", None),
    "flask --app naming a missing module": (
        "WORKDIR /app\nCOPY --chmod=755 flask /usr/local/bin/flask\n" + _run(["flask", "--app", "nosuch", "run"]),
        {"flask": FLASK}, "fail", "import-missing"),
    "a console script without its package": (
        "COPY --chmod=755 tool /usr/local/bin/tool\n" + _run(["tool"]),
        {"tool": "#!/usr/bin/python3\nimport sys\nfrom mytool.cli import main\nsys.exit(main())\n"}, "fail",
        "import-missing"),
    "a console script with its package": (
        f"COPY --chmod=755 tool /usr/local/bin/tool\nCOPY mytool {SITE}/mytool\n" + _run(["tool"]),
        {"tool": "#!/usr/bin/python3\nimport sys\nfrom mytool.cli import main\nsys.exit(main())\n",
         "mytool/__init__.py": "", "mytool/cli.py": "def main():\n    return 0\n"}, "ok", None),
    "the user site of another user": (
        "COPY app.py /app/app.py\nCOPY mymod.py /root/.local/lib/python3.11/site-packages/mymod.py\nUSER nobody\n" +
        _run(["python3", "/app/app.py"]), {"app.py": "import mymod\n", "mymod.py": ""}, "fail", "import-missing"),
    "the user site of the user": (
        "COPY app.py /app/app.py\nCOPY mymod.py /root/.local/lib/python3.11/site-packages/mymod.py\n" +
        _run(["python3", "/app/app.py"]), {"app.py": "import mymod\n", "mymod.py": ""}, "ok", None),
    "PYTHONPATH": ("ENV PYTHONPATH=/libs\nCOPY app.py /app/app.py\nCOPY mymod.py /libs/mymod.py\n" +
                   _run(["python3", "/app/app.py"]), {"app.py": "import mymod\n", "mymod.py": ""}, "ok", None),
    "no standard library": ("RUN rm -rf /usr/lib/python3.11/encodings\n" + _run(["python3", "-c", "pass"]), {},
                            "fail", "python-stdlib-missing"),
    "shell form": ("COPY app.py /app/app.py\nCMD python3 /app/app.py\n", {"app.py": "import flask\n"}, "fail",
                   "import-missing"),
}


@pytest.fixture
def context(tmp_path):
    def make(files):
        files = dict(files)
        return write_context(tmp_path / "ctx", files)
    return make


def check_and_run(store, ref):
    r = distill("check", "--run", "10", "--format", "json", ref, root=store.root, check=False)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def first_error(report):
    return next((f["rule"] for f in report["findings"] if f["severity"] == "error"), None)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_verdict_is_what_starting_it_does(python_store, context, case):
    from bed.images import PYTHON_BASE

    lines, files, verdict, rule = CASES[case]
    build(python_store, context(files), f"FROM {PYTHON_BASE}\n{lines}", tags=["localhost/pycheck:1"])
    report = check_and_run(python_store, "localhost/pycheck:1")
    assert (report["verdict"], first_error(report)) == (verdict, rule), report["findings"]
    assert report["run"]["started"] is (verdict == "ok"), report["run"]
    if rule == "import-missing":
        assert any("ModuleNotFoundError" in line for line in report["run"]["stderr"]), report["run"]


def test_the_python_that_runs_is_named_with_its_sys_path(python_store, context):
    """What check says sys.path will be is what the Python in the image prints."""
    from bed.images import PYTHON_BASE

    build(python_store, context({"app.py": "import sys\nprint(sys.path)\n", "mymod.py": ""}),
          f"FROM {PYTHON_BASE}\nRUN python3 -m venv --without-pip /opt/venv\nENV PYTHONPATH=/libs\n"
          "COPY mymod.py /libs/mymod.py\nCOPY app.py /app/app.py\n" + _run(["/opt/venv/bin/python", "/app/app.py"]),
          tags=["localhost/pycheck:path"])
    report = json.loads(distill("check", "--format", "json", "localhost/pycheck:path",
                                root=python_store.root).stdout)
    py = report["python"]
    assert (py["executable"], py["real"], py["version"], py["venv"]) == (
        "/opt/venv/bin/python", "/usr/bin/python3.11", "3.11", "/opt/venv")
    ran = distill("run", "--network", "none", "localhost/pycheck:path", root=python_store.root)
    printed = eval(ran.stdout.strip().splitlines()[-1])  # the list Python printed
    assert [p for p in py["sys_path"] if p in printed or not p.endswith(".zip")] == printed


def test_a_module_left_in_a_builder_stage_is_found_there(python_store, context):
    from bed.images import PYTHON_BASE

    files = {"tool": "#!/usr/bin/python3\nfrom mytool.cli import main\nmain()\n", "mytool/__init__.py": "",
             "mytool/cli.py": "def main():\n    pass\n"}
    build(python_store, context(files),
          f"FROM {PYTHON_BASE} AS build\nCOPY mytool {SITE}/mytool\nCOPY --chmod=755 tool /usr/local/bin/tool\n"
          f"FROM {PYTHON_BASE}\nCOPY --from=build /usr/local/bin/tool /usr/local/bin/tool\n" + _run(["tool"]),
          tags=["localhost/pycheck:stage"])
    report = check_and_run(python_store, "localhost/pycheck:stage")
    (finding,) = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["rule"] == "import-missing" and finding["module"] == "mytool.cli"
    assert finding["found_in"] == {"stage": "build", "path": f"{SITE}/mytool", "line": 2,
                                   "instruction": f"COPY mytool {SITE}/mytool"}
    assert "the final stage copies only /usr/local/bin/tool (Dockerfile:5) from `build`" in finding["message"]
    assert report["run"]["started"] is False


@pytest.fixture(scope="module")
def extensions(tmp_path_factory):
    """Extension modules compiled here against this machine's Python 3.11 headers: one that
    loads, one that needs GLIBC_2.39 (linked against a stub C library defining it, as a
    wheel built on a newer glibc would)."""
    work = tmp_path_factory.mktemp("ext")
    include = sysconfig.get_paths()["include"]
    (work / "ok.c").write_text(EXTENSION_C % ("", ""))
    subprocess.run(["gcc", "-shared", "-fPIC", f"-I{include}", "-o", work / "ok.so", work / "ok.c"], check=True)
    (work / "stub.c").write_text("int fresh_symbol(void) { return 0; }\n")
    (work / "stub.map").write_text("GLIBC_2.39 { global: fresh_symbol; };\n")
    subprocess.run(["gcc", "-shared", "-nostdlib", "-fPIC", "-Wl,-soname,libc.so.6",
                    f"-Wl,--version-script={work / 'stub.map'}", "-o", work / "libc.so.6", work / "stub.c"], check=True)
    (work / "new.c").write_text(EXTENSION_C % ("int fresh_symbol(void);", "fresh_symbol();"))
    subprocess.run(["gcc", "-shared", "-fPIC", "-nostdlib", f"-I{include}", "-o", work / "new.so", work / "new.c",
                    work / "libc.so.6"], check=True)
    return work


WHEEL = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n"


@pytest.mark.parametrize("tag, so, suffix, verdict, rules", [
    ("cp311-cp311-manylinux_2_17_x86_64", "ok", "cpython-311-x86_64-linux-gnu", "ok", []),
    ("cp312-cp312-manylinux_2_17_x86_64", "ok", "cpython-312-x86_64-linux-gnu", "fail", ["wheel-incompatible"]),
    ("cp311-cp311-manylinux_2_39_x86_64", "new", "cpython-311-x86_64-linux-gnu", "fail",
     ["symbol-version-missing", "wheel-incompatible"]),
], ids=["fits", "cp312 on 3.11", "manylinux_2_39 on glibc 2.36"])
def test_wheels_are_held_against_the_python_and_the_glibc(python_store, context, extensions, tag, so, suffix, verdict,
                                                          rules):
    from bed.images import PYTHON_BASE

    files = {"app.py": "import fast\nprint(fast.loaded)\n",
             "site/fast/__init__.py": "from . import _speed\nloaded = True\n",
             f"site/fast/_speed.{suffix}.so": (extensions / f"{so}.so").read_bytes(),
             "site/fast-1.0.dist-info/WHEEL": WHEEL.format(tag=tag),
             "site/fast-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: fast\nVersion: 1.0\n",
             "site/fast-1.0.dist-info/RECORD": f"fast/__init__.py,,\nfast/_speed.{suffix}.so,,\n"}
    build(python_store, context(files), f"FROM {PYTHON_BASE}\nCOPY site {SITE}/\nCOPY app.py /app/app.py\n" +
          _run(["python3", "/app/app.py"]), tags=["localhost/pycheck:wheel"])
    report = check_and_run(python_store, "localhost/pycheck:wheel")
    assert report["verdict"] == verdict
    assert sorted(f["rule"] for f in report["findings"] if f["severity"] == "error") == rules, report["findings"]
    assert report["run"]["started"] is (verdict == "ok"), report["run"]
    if so == "new":
        assert any("version `GLIBC_2.39' not found" in line for line in report["run"]["stderr"])
        (wheel,) = [f for f in report["findings"] if f["rule"] == "wheel-incompatible"]
        assert "needs glibc ≥ 2.39; the image has glibc 2.36" in wheel["message"]


def test_packages_copied_off_sys_path_get_an_env_fix(python_store, context):
    """pip install --target /deps in a builder, /deps copied, PYTHONPATH forgotten."""
    from bed.images import PYTHON_BASE

    files = {"app.py": "import mytool\n", "deps/mytool/__init__.py": "",
             "deps/mytool-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: mytool\nVersion: 1.0\n"}
    text = (f"FROM {PYTHON_BASE} AS build\nCOPY deps /deps\n"
            f"FROM {PYTHON_BASE}\nCOPY --from=build /deps /deps\nCOPY app.py /app/\n" +
            _run(["python3", "/app/app.py"]))
    build(python_store, context(files), text, tags=["localhost/pycheck:deps"])
    report = check_and_run(python_store, "localhost/pycheck:deps")
    (finding,) = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["found_in"]["path"] == "/deps/mytool" and finding["message"].endswith("Fix: ENV PYTHONPATH=/deps")
    assert report["run"]["started"] is False
    build(python_store, context(files), text.replace("COPY app.py", "ENV PYTHONPATH=/deps\nCOPY app.py"),
          tags=["localhost/pycheck:deps2"])
    report = check_and_run(python_store, "localhost/pycheck:deps2")
    assert report["verdict"] == "ok" and report["run"]["started"] is True
