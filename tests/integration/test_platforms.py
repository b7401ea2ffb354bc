"""Building for another platform: RUN steps of a foreign --platform run under QEMU user
emulation (Debian's qemu-user-static), registered with binfmt_misc by `distill binfmt
--install`; without an emulator a RUN stops with one line naming the command to run."""

import json
import os

import pytest

from bed.images import busybox_image
from buildtools import build, tree, write_context
from clirun import distill
from distill.build.runtime import binfmt
from distill.errors import DistillError
from distill.platform import host, parse

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


def test_a_stage_from_the_build_platform_runs_natively_and_knows_the_target(arm_store, busybox_store, tmp_path):
    """The cross-compiling pattern's shape: a builder FROM --platform=$BUILDPLATFORM runs
    on this machine with TARGETARCH telling it what to make; the final stage is the
    target's, and its RUN is emulated."""
    from bed.images import copy_image

    copy_image(busybox_store, arm_store, "localhost/busybox:test")
    ctx = write_context(tmp_path / "ctx", {})
    _, _, image = build(arm_store, ctx, f"""FROM --platform=$BUILDPLATFORM localhost/busybox:test AS build
ARG TARGETARCH TARGETPLATFORM BUILDPLATFORM
RUN uname -m > /build-machine && echo $TARGETARCH $TARGETPLATFORM $BUILDPLATFORM > /args
FROM {ARM64}
COPY --from=build /build-machine /args /
RUN uname -m > /run-machine
""", platform="linux/arm64")
    root = tree(arm_store, image, tmp_path / "out")
    assert (root / "build-machine").read_text() == os.uname().machine + "\n"
    assert (root / "args").read_text() == f"arm64 linux/arm64 {host()}\n"
    assert (root / "run-machine").read_text() == "aarch64\n"
    assert image.config["architecture"] == "arm64"


def test_two_platforms_make_an_index_that_is_pushed_and_pulled_back_by_platform(arm_store, busybox_store, registry,
                                                                               tmp_path):
    from distill.image.store import Store
    from distill.image.store.images import lookup
    from test_registry import skopeo_inspect

    _both(arm_store, busybox_store)  # a base of both platforms, as a registry gives one
    ref = f"{registry.host}/multi/app:1"
    ctx = write_context(tmp_path / "ctx", {})
    result, desc, image = build(arm_store, ctx, "FROM localhost/busybox:both\nARG TARGETARCH\n"
                                "RUN uname -m > /arch && echo $TARGETARCH > /target\n",
                                tags=[ref], platform=f"{host()},linux/arm64")
    index = arm_store.read_json(desc["digest"])
    assert [m["platform"]["architecture"] for m in index["manifests"]] == [host().architecture, "arm64"]
    for arch, machine in ((host().architecture, os.uname().machine), ("arm64", "aarch64")):
        img = lookup(arm_store, ref, parse(f"linux/{arch}"))
        root = tree(arm_store, img, tmp_path / f"out-{arch}")
        assert (root / "arch").read_text() == machine + "\n" and (root / "target").read_text() == arch + "\n"
        record = json.loads(distill("inspect", "--build-record", "--platform", f"linux/{arch}", ref,
                                    root=arm_store.root).stdout)
        assert record["platform"] == f"linux/{arch}"
    r = distill("push", ref, root=arm_store.root)
    assert r.returncode == 0, r.stderr
    raw = skopeo_inspect(f"docker://{ref}", "--raw")
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert sorted(m["platform"]["architecture"] for m in raw["manifests"]) == sorted([host().architecture, "arm64"])
    assert skopeo_inspect(f"docker://{ref}", "--override-arch", "arm64")["Architecture"] == "arm64"
    archive = tmp_path / "both.tar"  # saved as an OCI archive: the index, each platform's image in it
    assert distill("save", "--format", "oci", "-o", archive, ref, root=arm_store.root).returncode == 0
    assert skopeo_inspect(f"oci-archive:{archive}", "--override-arch", "arm64")["Architecture"] == "arm64"
    loaded = Store(tmp_path / "loaded")
    assert distill("load", "-i", archive, root=loaded.root).returncode == 0
    assert (tree(loaded, lookup(loaded, ref, parse("linux/arm64")), tmp_path / "loaded-tree") / "arch").read_text() \
        == "aarch64\n"
    other = Store(tmp_path / "other")
    r = distill("pull", "--platform", "linux/arm64", ref, root=other.root)
    assert r.returncode == 0, r.stderr
    pulled = lookup(other, ref, parse("linux/arm64"))
    assert pulled.config["architecture"] == "arm64"
    assert (tree(other, pulled, tmp_path / "pulled") / "arch").read_text() == "aarch64\n"


def test_the_cross_compiling_pattern_builds_both_platforms_and_each_runs(arm_store, busybox_store, tmp_path):
    """A builder on this machine's platform compiles with Debian's gcc-aarch64-linux-gnu
    for $TARGETARCH; the final stage is per platform. The arm64 image runs under the
    emulator and prints its machine; check finds both will start."""
    from bed.images import CROSS_BASE, CROSS_DOCKERFILE, CROSS_HELLO_C, CROSS_PACKAGES, cached_base

    cached_base(arm_store, CROSS_BASE, CROSS_PACKAGES)
    _both(arm_store, busybox_store)
    ctx = write_context(tmp_path / "ctx", {"hello.c": CROSS_HELLO_C, "Dockerfile": CROSS_DOCKERFILE})
    r = distill("build", "-q", "-t", "hello:multi", "--platform", f"{host()},linux/arm64", ctx, root=arm_store.root)
    assert r.returncode == 0, r.stderr
    for arch, machine in ((host().architecture, os.uname().machine), ("arm64", "aarch64")):
        ran = distill("run", "--rm", "--network", "none", "--platform", f"linux/{arch}", "hello:multi",
                      root=arm_store.root)
        assert (ran.returncode, ran.stdout) == (0, f"hello from {machine}\n"), ran.stderr
        checked = distill("check", "--format", "json", "--platform", f"linux/{arch}", "hello:multi",
                          root=arm_store.root)
        assert json.loads(checked.stdout)["verdict"] == "ok", checked.stdout + checked.stderr


def test_bootstrap_of_another_architecture_configures_its_packages_under_the_emulator(store, emulated, tmp_path):
    from bed.images import cached_base

    name = cached_base(store, "localhost/distill-test/debian-arm64:bookworm", [], arch="arm64")
    r = distill("run", "--rm", "--network", "none", "--platform", "linux/arm64", name, "sh", "-c",
                "dpkg --print-architecture && uname -m", root=store.root)
    assert (r.returncode, r.stdout) == (0, "arm64\naarch64\n"), r.stderr
    sbom = json.loads(distill("sbom", "--format", "json", "--platform", "linux/arm64", name, root=store.root).stdout)
    libc = [c for c in sbom["components"] if c["name"] == "libc6"]
    assert libc and "arch=arm64" in libc[0]["purl"]


def test_a_name_bootstrapped_for_a_second_platform_holds_an_index_of_both(arm_store, busybox_store):
    from bed.images import copy_image
    from distill.image.rootfs import debian_arch, platform_of_debian_arch, with_other_platforms

    copy_image(busybox_store, arm_store, "localhost/busybox:test")
    arm = arm_store.get_tag(ARM64)
    index = with_other_platforms(arm_store, "localhost/busybox:test", arm, parse("linux/arm64"))
    members = arm_store.read_json(index["digest"])["manifests"]
    assert [m["platform"]["architecture"] for m in members] == [host().architecture, "arm64"]
    assert with_other_platforms(arm_store, ARM64, arm, parse("linux/arm64")) == arm  # the same platform: replaced
    assert [debian_arch(parse(platform_of_debian_arch(a))) for a in ("armhf", "i386", "ppc64el", "arm64")] == \
        ["armhf", "i386", "ppc64el", "arm64"]


def _both(store, busybox_store):
    """localhost/busybox:both: an index of this machine's busybox and arm64's."""
    from bed.images import copy_image, tag_index

    copy_image(busybox_store, store, "localhost/busybox:test")
    tag_index(store, "localhost/busybox:both", [("localhost/busybox:test", host().as_dict()),
                                                (ARM64, {"os": "linux", "architecture": "arm64"})])


def test_the_platforms_build_side_by_side_and_a_step_they_share_runs_once(arm_store, busybox_store, tmp_path):
    from distill.image.store.images import lookup

    _both(arm_store, busybox_store)
    ctx = write_context(tmp_path / "ctx", {})
    build(arm_store, ctx, """FROM --platform=$BUILDPLATFORM localhost/busybox:test AS gen
RUN head -c 16 /dev/urandom | od -x > /out && sleep 1
FROM localhost/busybox:both
COPY --from=gen /out /
""", tags=["shared:1"], platform=f"{host()},linux/arm64")
    outs = {(tree(arm_store, lookup(arm_store, "shared:1", parse(f"linux/{a}")), tmp_path / a) / "out").read_text()
            for a in (host().architecture, "arm64")}
    assert len(outs) == 1  # one run of the shared step, both images hold what it wrote


def test_a_platform_that_fails_stops_the_other_and_its_error_is_the_builds(arm_store, busybox_store, tmp_path):
    import time

    if binfmt.can_run(parse("linux/s390x")):
        binfmt.uninstall(["s390x"])
    busybox_image(arm_store, "localhost/busybox:s390x", tmp_path, architecture="s390x")
    from bed.images import copy_image, tag_index

    copy_image(busybox_store, arm_store, "localhost/busybox:test")
    tag_index(arm_store, "localhost/busybox:two", [
        ("localhost/busybox:test", host().as_dict()),
        ("localhost/busybox:s390x", {"os": "linux", "architecture": "s390x"})])
    ctx = write_context(tmp_path / "ctx", {})
    started = time.monotonic()
    with pytest.raises(DistillError) as e:
        build(arm_store, ctx, "FROM localhost/busybox:two\nRUN sleep 60\n", platform=f"{host()},linux/s390x")
    assert "RUN for linux/s390x needs an emulator" in str(e.value)
    assert time.monotonic() - started < 30  # the other platform's RUN was stopped, not waited for


def test_a_docker_manifest_list_where_asked(arm_store, busybox_store, registry, tmp_path):
    from distill.build.outputs import parse_output
    from test_registry import skopeo_inspect

    _both(arm_store, busybox_store)
    ref = f"{registry.host}/multi/docker:1"
    build(arm_store, write_context(tmp_path / "ctx", {}), "FROM localhost/busybox:both\nENV A=1\n", tags=[ref],
          outputs=[parse_output("type=registry,oci-mediatypes=false")], platform=f"{host()},linux/arm64")
    raw = skopeo_inspect(f"docker://{ref}", "--raw")
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    arm = [m for m in raw["manifests"] if m["platform"]["architecture"] == "arm64"][0]
    assert arm["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    member = skopeo_inspect(f"docker://{ref.rsplit(':', 1)[0]}@{arm['digest']}", "--raw")
    assert member["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {l["mediaType"] for l in member["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert skopeo_inspect(f"docker://{ref}", "--override-arch", "arm64")["Architecture"] == "arm64"
    with pytest.raises(DistillError):
        parse_output("type=oci,dest=x.tar,oci-mediatypes=false")


def test_a_cache_of_both_platforms_serves_another_store(arm_store, busybox_store, registry, tmp_path):
    from bed.images import copy_image
    from distill.build.cache.spec import parse_cache
    from distill.image.store import Store

    _both(arm_store, busybox_store)
    cache = f"{registry.host}/multi/cache:1"
    dockerfile = "FROM localhost/busybox:both\nARG TARGETARCH\nRUN echo $TARGETARCH > /t\n"
    first, _, _ = build(arm_store, write_context(tmp_path / "a", {}), dockerfile, platform=f"{host()},linux/arm64",
                        cache_to=(parse_cache(f"type=registry,ref={cache},mode=max", "--cache-to"),))
    assert (first.executed, first.cached) == (2, 0)  # a RUN per platform
    other = Store(tmp_path / "other")
    copy_image(arm_store, other, ARM64)
    _both(other, busybox_store)
    again, _, image = build(other, write_context(tmp_path / "b", {}), dockerfile, platform=f"{host()},linux/arm64",
                            cache_from=(parse_cache(f"type=registry,ref={cache}", "--cache-from"),))
    assert (again.executed, again.cached) == (0, 2)


def test_inline_caches_of_an_index_serve_each_platform(arm_store, busybox_store, registry, tmp_path):
    from bed.images import copy_image
    from distill.build.cache.spec import parse_cache
    from distill.build.outputs import parse_output
    from distill.image.store import Store

    _both(arm_store, busybox_store)
    ref = f"{registry.host}/multi/inline:1"
    dockerfile = "FROM localhost/busybox:both\nARG TARGETARCH\nRUN echo $TARGETARCH > /t\n"
    build(arm_store, write_context(tmp_path / "a", {}), dockerfile, tags=[ref], platform=f"{host()},linux/arm64",
          outputs=[parse_output("type=registry")], cache_to=(parse_cache("type=inline", "--cache-to"),))
    other = Store(tmp_path / "other")
    copy_image(arm_store, other, ARM64)
    _both(other, busybox_store)
    again, _, _ = build(other, write_context(tmp_path / "b", {}), dockerfile, platform=f"{host()},linux/arm64",
                        cache_from=(parse_cache(ref, "--cache-from"),))
    assert (again.executed, again.cached) == (0, 2)  # each platform read its own image's inline cache
