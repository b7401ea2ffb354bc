"""The pure parts of the Python start-up check: which imports run when, how a command line
is read, and whether a wheel's tags fit a Python and a C library."""

import pytest

from distill.analyze.check.pyimports import Import, imports
from distill.analyze.check.python import _command_line, _extension_modules
from distill.analyze.check.wheels import wheel_tags, why_not


def required(source, package=""):
    return {i.module: i.required for i in imports(source, package) if not i.maybe}


def test_module_level_imports_are_required():
    assert required("import os, json.decoder\nfrom flask import Flask\n") == {
        "os": True, "json.decoder": True, "flask": True}


def test_imports_that_may_not_run_are_optional():
    src = """
def f():
    import numpy
try:
    import ujson as json
except ImportError:
    import json
try:
    import yaml
except (ValueError, ModuleNotFoundError):
    yaml = None
if DEBUG:
    import debug_toolbar
for x in y:
    import loop_mod
class C:
    import in_class
"""
    assert required(src) == {"numpy": False, "ujson": False, "json": False, "yaml": False, "debug_toolbar": False,
                             "loop_mod": False, "in_class": True}


def test_a_try_that_does_not_handle_import_errors_leaves_them_required():
    assert required("try:\n    import a\nexcept KeyError:\n    pass\nfinally:\n    import b\n") == {
        "a": True, "b": True}


def test_version_platform_and_type_checking_branches_are_left_out():
    src = """
import sys, os
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import mypy_stuff
if sys.version_info < (3, 8):
    import importlib_metadata
if sys.platform == "win32":
    import winreg
if os.name == "nt":
    import msvcrt
if __name__ == "__main__":
    import cli_only
"""
    assert required(src) == {"sys": True, "os": True, "typing": True, "cli_only": True}


def test_relative_imports_resolve_against_the_package():
    found = imports("from . import views\nfrom .models import User\nfrom ..core import x\n", "shop.web")
    assert [(i.module, i.maybe) for i in found] == [
        ("shop.web", False), ("shop.web.views", True), ("shop.web.models", False), ("shop.web.models.User", True),
        ("shop.core", False), ("shop.core.x", True)]
    assert imports("from . import x\n", "") == []  # a script's relative import: no package to start from
    assert imports("from ... import x\n", "a.b") == []  # beyond the top


def test_unparsable_sources_yield_nothing():
    assert imports(b"def (:\n") == [] and imports(b"\x00\x01") == []


def test_an_import_knows_its_line():
    assert imports("\n\nimport a\n") == [Import("a", True, 3)]


@pytest.mark.parametrize("words, expected", [
    (["app.py", "--port", "5000"], ("file", "app.py", ("--port", "5000"), set())),
    (["-u", "-B", "app.py"], ("file", "app.py", (), {"u", "B"})),
    (["-uB", "-W", "ignore", "app.py"], ("file", "app.py", (), {"u", "B"})),
    (["-m", "flask", "run"], ("module", "flask", ("run",), set())),
    (["-mhttp.server", "80"], ("module", "http.server", ("80",), set())),
    (["-I", "-c", "import x", "a"], ("code", "import x", ("a",), {"I"})),
    (["-"], ("stdin", None, (), set())),
    ([], ("stdin", None, (), set())),
])
def test_the_command_line_is_read_as_python_reads_it(words, expected):
    p = _command_line("/usr/bin/python3", words)
    assert (p.mode, p.target, p.args, set(p.flags)) == expected


def test_a_wheel_tag_set_is_expanded():
    text = "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64\n"
    assert wheel_tags(text) == ["cp311-cp311-manylinux2014_x86_64", "cp311-cp311-manylinux_2_17_x86_64"]


GLIBC_236 = ("glibc", (2, 36))


@pytest.mark.parametrize("tag, python, libc, arch, fits", [
    ("py3-none-any", (3, 11), GLIBC_236, "x86_64", True),
    ("py2-none-any", (3, 11), GLIBC_236, "x86_64", False),
    ("cp311-cp311-manylinux_2_17_x86_64", (3, 11), GLIBC_236, "x86_64", True),
    ("cp311-cp311-manylinux2014_x86_64", (3, 11), GLIBC_236, "x86_64", True),
    ("cp312-cp312-manylinux_2_17_x86_64", (3, 11), GLIBC_236, "x86_64", False),
    ("cp310-cp310-manylinux_2_17_x86_64", (3, 11), GLIBC_236, "x86_64", False),
    ("cp38-abi3-manylinux_2_17_x86_64", (3, 11), GLIBC_236, "x86_64", True),
    ("cp312-abi3-manylinux_2_17_x86_64", (3, 11), GLIBC_236, "x86_64", False),
    ("cp311-cp311-manylinux_2_39_x86_64", (3, 11), GLIBC_236, "x86_64", False),
    ("cp311-cp311-manylinux_2_17_aarch64", (3, 11), GLIBC_236, "x86_64", False),
    ("cp311-cp311-musllinux_1_1_x86_64", (3, 11), GLIBC_236, "x86_64", False),
    ("cp311-cp311-musllinux_1_1_x86_64", (3, 11), ("musl", (1, 2)), "x86_64", True),
    ("cp311-cp311-manylinux_2_17_x86_64", (3, 11), ("musl", (1, 2)), "x86_64", False),
    ("cp311-cp311-linux_x86_64", (3, 11), GLIBC_236, "x86_64", True),
    ("pp310-pypy310_pp73-manylinux_2_17_x86_64", (3, 11), GLIBC_236, "x86_64", False),
    ("cp311-cp311-win_amd64", (3, 11), GLIBC_236, "x86_64", False),
])
def test_wheel_tags_against_python_and_libc(tag, python, libc, arch, fits):
    reason = why_not([tag], python, libc, arch)
    assert (reason is None) is fits, reason


def test_one_fitting_tag_is_enough_and_the_reason_names_the_tag():
    assert why_not(["cp312-cp312-manylinux_2_17_x86_64", "py3-none-any"], (3, 11), GLIBC_236, "x86_64") is None
    reason = why_not(["cp311-cp311-manylinux_2_39_x86_64"], (3, 11), GLIBC_236, "x86_64")
    assert reason.startswith("cp311-cp311-manylinux_2_39_x86_64: needs glibc ≥ 2.39; the image has glibc 2.36")


def test_a_distribution_s_extension_modules_come_from_its_record():
    record = ("six.py,sha256=x,1\nmarkupsafe/__init__.py,,\nmarkupsafe/_speedups.cpython-311-x86_64-linux-gnu.so,,\n"
              "_cffi_backend.cpython-311-x86_64-linux-gnu.so,,\nflask-3.0.dist-info/RECORD,,\n"
              "../../../lib/evil.so,,\n")
    assert _extension_modules(record) == {"markupsafe._speedups", "_cffi_backend"}
