"""Building for another platform: RUN steps of a foreign --platform run under QEMU user
emulation (Debian's qemu-user-static), registered with binfmt_misc by `distill binfmt
--install`; without an emulator a RUN stops with one line naming the command to run."""

import json

import pytest

from bed.images import busybox_image
from buildtools import build, tree, write_context
from clirun import distill
from distill.build.runtime import binfmt
from distill.errors import DistillError
from distill.platform import parse

pytestmark = pytest.mark.integration

ARM64 = "localhost/busybox:arm64"


@pytest.fixture(scope="module")
def emulated():
    """arm64's emulator registered, as `distill binfmt --install arm64` does."""
    r = distill("binfmt", "--install", "arm64")
    assert r.returncode == 0, r.stderr
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines())
    assert rows["arm64"].split() == ["enabled", "PF"]  # F: opened now, so it runs in a container too
    return True


@pytest.fixture
def arm_store(store, tmp_path, emulated):
    busybox_image(store, ARM64, tmp_path, architecture="arm64")
    return store


def test_a_run_for_arm64_runs_under_the_emulator(arm_store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {})
    result, _, image = build(arm_store, ctx, f"FROM {ARM64}\nRUN uname -m > /arch && busybox --help | head -1 > /b\n",
                             platform="linux/arm64")
    root = tree(arm_store, image, tmp_path / "out")
    assert (root / "arch").read_text() == "aarch64\n"
    assert image.config["architecture"] == "arm64" and image.config["os"] == "linux"
    r = distill("inspect", "--build-record", image.id, root=arm_store.root)
    assert json.loads(r.stdout)["platform"] == "linux/arm64"


def test_a_run_without_an_emulator_says_which_command_registers_one(store, tmp_path):
    if binfmt.can_run(parse("linux/s390x")):
        binfmt.uninstall(["s390x"])  # this test's machine: the state it needs
    busybox_image(store, "localhost/busybox:s390x", tmp_path, architecture="s390x")
    ctx = write_context(tmp_path / "ctx", {"f": "x"})
    with pytest.raises(DistillError) as e:  # the steps before it are built
        build(store, ctx, "FROM localhost/busybox:s390x\nCOPY f /\nRUN true\n", platform="linux/s390x")
    assert str(e.value).endswith(f"Dockerfile:3: RUN for linux/s390x needs an emulator, which this machine has not "
                                 f"registered: {binfmt.INSTALL_HINT}")


def test_registration_lines_come_from_debians_definitions():
    d = binfmt.parse_definition("package qemu-user-static\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n"
                                "magic \\x7f\\x45\\x4c\\x46\noffset 0\nmask \\xff\\xff\\xff\\xff\n"
                                "credentials no\nfix_binary yes\npreserve yes\n")
    assert binfmt.registration("qemu-aarch64", d) == \
        ":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46:\\xff\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:FP"
    with pytest.raises(DistillError):
        binfmt.registration("qemu-x", {"magic": "\\x7f"})
