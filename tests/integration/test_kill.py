"""A builder you can kill: builds and runs killed with SIGKILL leave nothing mounted (their
mounts live in a mount namespace of their own), the next command stops what they left
running (containers, port proxies) and removes their temporary directories, prune never fails,
fsck finds the store sound and the next build succeeds. bench/soak.py does the same at
random moments, 50 times; this is its short form."""

import os
import signal
import subprocess
import sys
import time

import pytest

from bed.images import copy_image
from bed.leftovers import bridge_veths, command_lines, leftovers
from buildtools import BUSYBOX, write_context
from clirun import distill

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import soak  # noqa: E402


def start(root, *args) -> subprocess.Popen:
    env = dict(os.environ, DISTILL_ROOT=str(root))
    return subprocess.Popen([sys.executable, "-m", "distill", *map(str, args)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_for(predicate, timeout=30.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def test_a_build_killed_in_a_run_step_leaves_nothing_running_or_mounted(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BUSYBOX}\nRUN echo started && sleep 61\n"})
    veths = bridge_veths()
    build = start(store.root, "build", "--progress", "plain", ctx)
    wait_for(lambda: container_processes("sleep 61"))  # the RUN step's container is up, its network too
    assert bridge_veths() - veths  # on the bridge
    build.send_signal(signal.SIGKILL)
    build.wait()
    wait_for(lambda: not container_processes("sleep 61"), timeout=5)  # killed with the build, by the kernel
    wait_for(lambda: bridge_veths() <= veths, timeout=5)  # its network namespace, and the veth with it
    left = leftovers([store.root])
    assert left["mounts"] == [] and left["processes"] == []
    assert os.listdir(store.tmp_dir)  # its directories, and runc's record of the container, until prune
    r = distill("prune", "--cache", root=store.root)
    assert "Traceback" not in r.stderr
    assert leftovers([store.root]) == {"mounts": [], "containers": [], "processes": []}
    assert os.listdir(store.tmp_dir) == []
    assert distill("fsck", root=store.root).returncode == 0
    ok = write_context(tmp_path / "ok", {"Dockerfile": f"FROM {BUSYBOX}\nRUN echo fine > /fine\n"})
    distill("build", "-q", ok, root=store.root)


def container_processes(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (a RUN step's own command)."""
    return [pid for pid, argv in command_lines() if marker.encode() in b" ".join(argv)]


def test_the_next_build_collects_what_a_killed_one_left(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BUSYBOX}\nRUN sleep 62\n"})
    build = start(store.root, "build", ctx)
    wait_for(lambda: container_processes("sleep 62"))
    build.send_signal(signal.SIGKILL)
    build.wait()
    ok = write_context(tmp_path / "ok", {"Dockerfile": f"FROM {BUSYBOX}\nRUN echo fine > /fine\n"})
    distill("build", "-q", ok, root=store.root)
    assert leftovers([store.root]) == {"mounts": [], "containers": [], "processes": []}
    assert os.listdir(store.tmp_dir) == []


def test_a_foreground_run_killed_is_collected_by_the_next_run(store, tmp_path):
    run = start(store.root, "run", BUSYBOX, "sleep", "63")
    wait_for(lambda: container_processes("sleep 63"))
    run.send_signal(signal.SIGKILL)
    run.wait()
    wait_for(lambda: not container_processes("sleep 63"), timeout=5)
    assert leftovers([store.root])["mounts"] == []
    r = distill("run", "--network", "none", BUSYBOX, "true", root=store.root)
    assert r.returncode == 0
    assert leftovers([store.root]) == {"mounts": [], "containers": [], "processes": []}
    assert os.listdir(os.path.join(store.root, "containers")) == []


def test_soak_short_form(store, tmp_path):
    """bench/soak.py's loop, 6 kills at moments spread over a build: each leaves nothing
    mounted and nothing running; at the end nothing is left and the store is sound."""
    report = soak.soak(store.root, tmp_path / "soak", BUSYBOX, kills=6, seed=7)
    assert report["mounts_after_kill"] == 0 and report["kills_leaving_a_process"] == 0
    assert report["final"] == {"mounts": [], "containers": [], "processes": []}
    assert report["fsck"] == 0 and report["next_build"] == 0


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGINT],
                         ids=["hang-up", "quit", "usr1", "interrupt"])
def test_signals_that_end_a_process_end_the_build_and_what_it_started(store, tmp_path, signum):
    """The build is its PID namespace's first process, which the kernel spares the signals
    it has no handler for: a hang-up (a closed terminal or ssh) must still end it, as it
    ends `docker build`, cleanly."""
    marker = f"sleep {100 + signum}"  # its own, so no other test's container is taken for it
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BUSYBOX}\nRUN {marker}\n"})
    build = start(store.root, "build", ctx)
    wait_for(lambda: container_processes(marker))
    build.send_signal(signum)
    assert build.wait(30) == 128 + signum  # as a shell reports a process the signal ended
    wait_for(lambda: not container_processes(marker), timeout=5)
    assert leftovers([store.root]) == {"mounts": [], "containers": [], "processes": []}
    assert os.listdir(store.tmp_dir) == []  # it ended cleanly: nothing for the next build to collect


def test_a_hang_up_soon_after_the_start_is_not_lost(store, tmp_path):
    """The build becomes its PID namespace's first process, and a signal its supervisor
    forwards before the build's handlers are in place would be dropped (a first process
    ignores what it has no handler for): 20 hang-ups, each sent the moment the first
    process exists, each end the build."""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BUSYBOX}\nRUN sleep 30\n"})
    for _ in range(20):
        build = start(store.root, "build", "--no-cache", ctx)
        children = f"/proc/{build.pid}/task/{build.pid}/children"
        deadline = time.monotonic() + 10
        while build.poll() is None and time.monotonic() < deadline:
            try:
                with open(children) as f:
                    if f.read().strip():
                        break
            except OSError:
                pass
        build.send_signal(signal.SIGHUP)
        try:
            code = build.wait(10)
        except subprocess.TimeoutExpired:
            build.kill()
            build.wait()
            raise AssertionError("a hang-up early in the build was lost: it ran on")
        assert code == 128 + signal.SIGHUP, code
