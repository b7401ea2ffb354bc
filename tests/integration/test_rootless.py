"""A user other than root builds and runs: as root of a user namespace of its own, its
subordinate ids mapped, overlayfs mounted there, runc in it, the store in its home."""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from clirun import distill

pytestmark = pytest.mark.integration

USER, SINGLE = "distill-rootless", "distill-single"
CHOWN = ("FROM localhost/busybox:test\n"
         "RUN mkdir /d && echo hi > /d/f && chown 1000:1000 /d/f && mkdir /d/app && chown 123:456 /d/app\n")


@pytest.fixture(scope="module")
def shared(busybox_store):
    """A directory every user reads, holding the busybox image saved as an archive."""
    from bed.users import reachable_by_all

    reachable_by_all(Path(sys.executable).parent)
    reachable_by_all(Path(__file__).resolve().parent)
    work = Path(tempfile.mkdtemp(prefix="distill-rootless-", dir="/tmp"))
    work.chmod(0o755)
    distill("save", "localhost/busybox:test", "-o", work / "busybox.tar", root=busybox_store.root)
    (work / "busybox.tar").chmod(0o644)
    yield work
    shutil.rmtree(work, ignore_errors=True)


def user_with_busybox(name: str, subordinate: bool, shared: Path):
    from bed.users import distill_as, ensure_user

    user = ensure_user(name, subordinate)
    store = Path(user.pw_dir) / ".local/share/distill"
    if store.exists():  # a store of an earlier run: the user's own ids own it, root removes it
        shutil.rmtree(store)
    distill_as(user, "load", "-i", shared / "busybox.tar")
    return user, store


def context(shared: Path, name: str, dockerfile: str) -> Path:
    ctx = shared / name
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    os.chmod(ctx, 0o755)
    (ctx / "Dockerfile").chmod(0o644)
    return ctx


def test_a_user_builds_the_image_root_builds_with_the_owners_it_names(shared, busybox_store, tmp_path):
    from bed.users import distill_as

    user, store = user_with_busybox(USER, True, shared)
    ctx = context(shared, "chown", CHOWN)
    built = distill_as(user, "build", "--progress", "plain", "--network", "none", "-t", "owners:1", ctx,
                       env={"SOURCE_DATE_EPOCH": "0"})
    assert "note:" not in built.stderr
    assert "isolation: runc in a user namespace mapping the user and its subordinate ids\n" in built.stderr
    record = json.loads(distill_as(user, "inspect", "--build-record", "owners:1").stdout)
    assert record["isolation"] == {"runtime": "runc", "user_namespace": "full", "process_sandbox": True,
                                   "default_network": "private"}
    root = tmp_path / "root"
    from bed.images import copy_image
    from distill.image.store import Store

    copy_image(busybox_store, Store(root), "localhost/busybox:test")
    distill("build", "--network", "none", "-t", "owners:1", ctx, root=root, env={"SOURCE_DATE_EPOCH": "0"})
    mine = json.loads(distill_as(user, "inspect", "owners:1").stdout)["Id"]
    assert mine == json.loads(distill("inspect", "owners:1", root=root).stdout)["Id"]
    # the store is the user's, in its home, and owned by it
    assert store.is_dir() and store.stat().st_uid == user.pw_uid
    assert (store / "blobs").stat().st_uid == user.pw_uid
    rows = {r["path"]: r for r in json.loads(distill_as(user, "ls", "-R", "--json", "owners:1", "/d").stdout)}
    assert (rows["/d/f"]["uid"], rows["/d/f"]["gid"]) == (1000, 1000)
    assert (rows["/d/app"]["uid"], rows["/d/app"]["gid"]) == (123, 456)
    # the analysers read the user's store
    assert json.loads(distill_as(user, "size", "--format", "json", "owners:1").stdout)["size"] > 0
    assert json.loads(distill_as(user, "check", "--format", "json", "owners:1").stdout)["verdict"] == "ok"
    sbom = json.loads(distill_as(user, "sbom", "--format", "json", "owners:1").stdout)
    assert sbom["image"] == "owners:1" and sbom["components"] == []  # busybox-static: no package database
    # and it cleans up after itself: prune takes the snapshots its subordinate ids own
    distill_as(user, "rmi", "owners:1", "localhost/busybox:test")
    distill_as(user, "prune", "--cache")
    snapshots = store / "snapshots"
    assert not snapshots.exists() or sorted(p.name for p in snapshots.iterdir()) in ([], ["empty"])


def test_where_overlayfs_is_refused_a_users_build_copies_and_gives_the_same_image(shared, busybox_store, tmp_path):
    """A kernel that refuses overlayfs in a user namespace (before 5.11; here
    DISTILL_SNAPSHOTTER=copy stands in for it): the copy snapshotter's trees, made by the
    user's subordinate ids, give the image a root build with overlayfs gives."""
    from bed.images import copy_image
    from bed.users import distill_as
    from distill.image.store import Store

    user, store = user_with_busybox(USER, True, shared)
    ctx = context(shared, "chown-copied", CHOWN + "RUN rm -rf /d/app && echo again > /d/f2\n")
    env = {"SOURCE_DATE_EPOCH": "0", "DISTILL_SNAPSHOTTER": "copy"}
    distill_as(user, "build", "--network", "none", "-t", "copied:1", ctx, env=env)
    assert [p.name for p in (store / "trees").iterdir()]  # the snapshotter's, kept for the next build
    root = tmp_path / "root"
    copy_image(busybox_store, Store(root), "localhost/busybox:test")
    distill("build", "--network", "none", "-t", "copied:1", ctx, root=root, env={"SOURCE_DATE_EPOCH": "0"})
    assert json.loads(distill_as(user, "inspect", "copied:1").stdout)["Id"] == \
        json.loads(distill("inspect", "copied:1", root=root).stdout)["Id"]
    distill_as(user, "prune")
    assert list((store / "trees").iterdir()) == []


def test_a_user_runs_with_the_machines_network_or_none(shared):
    from bed.users import distill_as

    user, _ = user_with_busybox(USER, True, shared)
    ctx = context(shared, "nets", "FROM localhost/busybox:test\nRUN cat /sys/class/net/lo/operstate; id -u\n")
    for network in ("host", "none"):
        r = distill_as(user, "build", "--progress", "plain", "--no-cache", "--network", network, ctx)
        out = [line.split(" ", 2)[-1] for line in r.stderr.splitlines() if line.startswith("#1 0.")]
        assert out[-2:] in (["unknown", "0"], ["up", "0"]), r.stderr
    r = distill_as(user, "run", "--rm", "--network", "none", "localhost/busybox:test", "cat", "/proc/self/status")
    status = dict(line.split(":\t", 1) for line in r.stdout.splitlines() if ":\t" in line)
    assert status["CapEff"].strip() == "00000000a80425fb" and status["Seccomp"].strip() == "2"


def test_without_subordinate_ids_only_root_maps_and_a_build_says_so(shared):
    from bed.users import distill_as

    user, _ = user_with_busybox(SINGLE, False, shared)
    ctx = context(shared, "single", "FROM localhost/busybox:test\nRUN echo ok > /ok\n")
    r = distill_as(user, "build", "--network", "none", "-t", "single:1", ctx)
    notes = [line for line in r.stderr.splitlines() if line.startswith("distill: note:")]
    assert len(notes) == 1 and "/etc/subuid" in notes[0]
    ctx = context(shared, "single-chown", CHOWN)
    r = distill_as(user, "build", "--network", "none", ctx, check=False)
    assert r.returncode == 1 and "chown" in r.stderr.splitlines()[-1]


@pytest.fixture(scope="module")
def netprobe(shared):
    from bed.programs import static_program

    ctx = shared / "netprobe"
    ctx.mkdir()
    static_program("netprobe", ctx)
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:test\nCOPY netprobe /netprobe\n")
    for p in (ctx, ctx / "netprobe", ctx / "Dockerfile"):
        p.chmod(0o755)
    return ctx


def test_a_users_private_network_reaches_the_machine_but_not_its_loopback(shared, netprobe):
    """Behind the router, frames forged for 127.0.0.1 and ::1 meet a kernel that drops
    them, never pasta; the machine's own address answers, a server on it serves."""
    from bed.net import Listener, Server, closed_port, machine_address
    from bed.users import distill_as

    user, _ = user_with_busybox(USER, True, shared)
    distill_as(user, "build", "-t", "netprobe:1", netprobe)
    with Listener("127.0.0.1") as v4, Listener("::1") as v6, Listener("0.0.0.0") as everywhere, \
            Server(machine_address(), "from the machine") as web:
        closed = closed_port()
        loopback = [f"127.0.0.1:{v4.port}", f"127.0.0.1:{closed}", f"[::1]:{v6.port}", f"[::1]:{closed}"]
        mine = f"{machine_address()}:{everywhere.port}"
        r = distill_as(user, "run", "--rm", "netprobe:1", "/netprobe", *loopback, mine)
        got = dict(line.split("=", 1) for line in r.stdout.splitlines())
        assert {t: got[t] for t in loopback} == {t: "none" for t in loopback}, got
        assert v4.accepted == 0 and v6.accepted == 0
        assert got[mine] == "synack"
        ctx = context(shared, "wget", f"FROM localhost/busybox:test\nRUN wget -q -O - {web.url}\n")
        r = distill_as(user, "build", "--progress", "plain", "--no-cache", ctx)
        assert "from the machine" in r.stderr and web.peers


def test_a_user_publishes_a_port_in_the_foreground(shared):
    import subprocess

    from bed.net import free_port
    from bed.users import distill_as, served_by

    user, store = user_with_busybox(USER, True, shared)
    web = shared / "web"
    (web / "www").mkdir(parents=True)
    (web / "www" / "index.html").write_text("served from inside\n")
    (web / "Dockerfile").write_text('FROM localhost/busybox:test\nCOPY www /www\nEXPOSE 8000\n'
                                    'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n')
    for p in (web, web / "www"):
        p.chmod(0o755)
    distill_as(user, "build", "-t", "web:1", web)
    port = free_port()
    assert served_by(user, port, f"{port}:8000", "web:1") == "served from inside\n"
    # the router, pasta and the proxy went with the command
    left = subprocess.run(["pgrep", "-u", str(user.pw_uid), "-f", "pasta|distill"], capture_output=True, text=True)
    assert left.stdout == ""
    r = distill_as(user, "run", "-d", "web:1", check=False)
    assert r.returncode == 1 and r.stderr.startswith("distill: error: run -d needs root")


def test_a_users_build_killed_leaves_nothing(shared):
    """SIGKILL in a RUN step on the private network: the kernel ends the container, runc,
    pasta and the router with the build's namespaces; the next command collects the rest."""
    import signal
    import subprocess
    import time

    from bed.users import command_as, distill_as

    user, store = user_with_busybox(USER, True, shared)
    ctx = context(shared, "killed", "FROM localhost/busybox:test\nRUN echo started && sleep 61\n")
    build = subprocess.Popen(command_as(user, "build", "--progress", "plain", ctx), cwd=user.pw_dir,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def running(pattern: str) -> bool:
        return subprocess.run(["pgrep", "-u", str(user.pw_uid), "-f", pattern], capture_output=True).returncode == 0

    deadline = time.time() + 30
    while not (running("sleep 61") and running("pasta")):
        assert time.time() < deadline and build.poll() is None, build.stderr.read().decode()
        time.sleep(0.05)
    build.send_signal(signal.SIGKILL)
    build.wait()
    deadline = time.time() + 10
    while running("sleep 61|pasta|runc|distill"):
        assert time.time() < deadline, subprocess.run(["ps", "-fu", str(user.pw_uid)], capture_output=True,
                                                      text=True).stdout
        time.sleep(0.05)
    with open("/proc/self/mountinfo") as f:
        assert not [row for row in f if str(store) in row]
    distill_as(user, "prune", "--cache")
    assert list((store / "tmp").iterdir()) == []
    assert not (store / "runc").exists() or list((store / "runc").iterdir()) == []
    distill_as(user, "fsck")
    distill_as(user, "build", "--network", "none", context(shared, "after", "FROM localhost/busybox:test\nRUN true\n"))


def test_soak_as_a_user(shared):
    """bench/soak.py's loop as the user, 6 SIGKILLs at moments spread over a build: none
    leaves a process, a container record or a mount; prune, fsck and the next build hold."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import soak

    user, store = user_with_busybox(USER, True, shared)
    report = soak.soak(store, shared / "soak", "localhost/busybox:test", kills=6, seed=11, user=user)
    assert report["mounts_after_kill"] == 0 and report["kills_leaving_a_process"] == 0, report
    assert report["final"] == {"mounts": [], "containers": [], "processes": []}, report
    assert report["fsck"] == 0 and report["next_build"] == 0, report
