"""Build outputs read by skopeo, the CLI build command, and `distill run`/`stop`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bed.images import copy_image
from bed.leftovers import leftovers
from buildtools import BUSYBOX, write_context
from clirun import distill
from test_registry import skopeo_inspect

DOCKERFILE = f"""FROM {BUSYBOX} AS build
RUN echo artifact > /artifact
FROM {BUSYBOX}
COPY --from=build /artifact /srv/artifact
ENV GREETING=hi
CMD ["sh", "-c", "echo $GREETING; cat /srv/artifact"]
"""


@pytest.fixture
def root(tmp_path, busybox_store):
    from distill.image.store import Store

    s = Store(tmp_path / "store")
    copy_image(busybox_store, s, BUSYBOX)
    return Path(s.root)


@pytest.fixture
def ctx(tmp_path):
    return write_context(tmp_path / "ctx", {"Dockerfile": DOCKERFILE})


def test_outputs_read_by_skopeo(root, ctx, tmp_path, registry):
    oci, docker, local = tmp_path / "img.oci.tar", tmp_path / "img.docker.tar", tmp_path / "rootfs"
    tag = f"{registry.host}/out/app:1"
    r = distill("build", "-t", tag, "--progress", "plain", "-o", f"type=oci,dest={oci}",
                "-o", f"type=docker,dest={docker}", "-o", f"type=local,dest={local}", "-o", "type=registry",
                "--iidfile", tmp_path / "iid", ctx, root=root)
    image_id = (tmp_path / "iid").read_text()
    info = json.loads(distill("inspect", tag, root=root).stdout)
    assert info["Id"] == image_id
    # the archive and the registry both get the layers as gzip: one manifest, not the local one
    shipped = skopeo_inspect(f"oci-archive:{oci}")["Digest"]
    assert shipped != info["Digest"]
    raw = subprocess.run(["skopeo", "inspect", "--config", f"docker-archive:{docker}"], capture_output=True,
                         text=True, check=True)
    assert json.loads(raw.stdout)["config"]["Cmd"] == ["sh", "-c", "echo $GREETING; cat /srv/artifact"]
    assert skopeo_inspect(f"docker://{tag}")["Digest"] == shipped
    assert (local / "srv/artifact").read_text() == "artifact\n"
    assert "#" in r.stderr and "DONE" in r.stderr


def test_cli_build_quiet_stdin_and_noop(root, ctx):
    r = distill("build", "-q", "-t", "app:1", ctx, root=root)
    image_id = r.stdout.strip()
    assert image_id.startswith("sha256:") and r.stderr == ""
    again = distill("build", "--progress", "plain", "-t", "app:1", ctx, root=root)
    assert "CACHED" in again.stderr and "DONE" not in again.stderr and "0 steps run" in again.stderr
    piped = distill("build", "-q", "-", root=root, input=f"FROM {BUSYBOX}\nENV FROM_STDIN=1\n")
    assert piped.stdout.strip().startswith("sha256:")


def test_cli_build_errors_are_one_line_with_location(root, tmp_path):
    ctx = write_context(tmp_path / "bad", {"Dockerfile": f"FROM {BUSYBOX}\nRUN exit 4\n"})
    r = distill("build", ctx, root=root, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == f"distill: error: {ctx}/Dockerfile:2: RUN exit 4 did not complete successfully: exit code 4"
    r = distill("build", "-t", "Bad:Name", ctx, root=root, check=False)
    assert r.returncode == 1 and "lowercase" in r.stderr
    r = distill("build", tmp_path / "nope", root=root, check=False)
    assert r.returncode == 1 and "not a directory" in r.stderr


def test_run_foreground_and_detached(root, ctx):
    distill("build", "-q", "-t", "app:1", ctx, root=root)
    r = distill("run", "--rm", "app:1", root=root)
    assert r.stdout == "hi\nartifact\n"
    r = distill("run", "-e", "GREETING=yo", "-w", "/srv", "-u", "app", "app:1", "sh", "-c",
                "echo $GREETING $(pwd) $(id -u); exit 5", root=root, check=False)
    assert r.returncode == 5 and r.stdout == "yo /srv 1000\n"
    cid = distill("run", "-d", "app:1", "sh", "-c", "trap 'exit 0' TERM; echo up; while true; do sleep 0.1; done",
                  root=root).stdout.strip()
    for _ in range(50):
        if "up" in distill("logs", cid, root=root).stdout:
            break
        time.sleep(0.1)
    assert "up" in distill("logs", cid, root=root).stdout
    assert distill("ps", "-q", root=root).stdout.split() == [cid[:12]]
    assert distill("rm", cid, root=root, check=False).stderr.strip().endswith("is running: stop it first, or rm -f")
    follow = subprocess.Popen([sys.executable, "-m", "distill", "logs", "-f", cid], stdout=subprocess.PIPE,
                              env=dict(os.environ, DISTILL_ROOT=str(root)))
    assert distill("stop", "-t", "5", cid, root=root).stdout.strip() == cid
    assert follow.communicate(timeout=10)[0].decode().startswith("up\n")  # followed until it stopped
    mounts = open("/proc/mounts").read()
    assert str(root) not in mounts
    assert distill("ps", "-q", root=root).stdout == ""
    assert "exited" in distill("ps", "-a", root=root).stdout
    assert "up" in distill("logs", cid, root=root).stdout  # kept after stop, as docker's, until rm
    assert distill("stop", cid, root=root).returncode == 0
    distill("rm", cid, root=root)
    r = distill("logs", cid, root=root, check=False)
    assert r.returncode == 1 and "no such container" in r.stderr


def test_a_container_id_is_a_plain_name(root, tmp_path):
    """stop removes the container's directory: an ID that walks out of the store's
    containers/ must not reach anything."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "state.json").write_text('{"runc": "distill-run-x"}')
    escape = os.path.relpath(victim, root / "containers")
    for args in (["stop", escape], ["logs", escape], ["stop", ".."], ["run", "--name", "../x", BUSYBOX, "true"]):
        r = distill(*args, root=root, check=False)
        assert r.returncode == 1 and "invalid container ID" in r.stderr, (args, r.stderr)
    assert (victim / "state.json").exists()


def test_prune_keeps_the_layers_under_a_running_container(root, ctx):
    """An image removed while a container from it runs: prune leaves the snapshots its
    mount stands on, and takes them once the container is stopped."""
    from distill.image.layers.unpack import snapshot_id, snapshots_dir
    from distill.image.store import Store

    distill("build", "-q", "-t", "gone:1", ctx, root=root)
    diff_ids = json.loads(distill("inspect", "gone:1", root=root).stdout)["Config"]["rootfs"]["diff_ids"]
    cid = distill("run", "-d", "gone:1", "sh", "-c", "trap 'exit 0' TERM; while true; do cat /srv/artifact; sleep 0.2; done",
                  root=root).stdout.strip()
    top = Path(snapshots_dir(Store(root)), snapshot_id(diff_ids[-1]))
    try:
        distill("rmi", "gone:1", root=root)
        distill("prune", "--cache", root=root)
        assert top.is_dir()
        time.sleep(0.5)
        assert "artifact" in distill("logs", cid, root=root).stdout
    finally:
        distill("stop", "-t", "5", cid, root=root)
    distill("prune", "--cache", root=root)
    assert not top.exists()


def test_run_with_a_terminal(root):
    """run -it: the process sees a terminal of its own (a pty runc makes), TERM is set,
    and what is typed reaches it; without a terminal here, -t is a clear error."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "distill", "run", "-it", BUSYBOX, "sh", "-c",
                             "tty; echo TERM=$TERM; read x; echo got:$x"],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            env=dict(os.environ, DISTILL_ROOT=str(root)))
    os.close(slave)
    out, typed, deadline = b"", False, time.time() + 30
    while time.time() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side closed
                break
            out += chunk
            if b"TERM=" in out and not typed:
                os.write(master, b"hello\r")
                typed = True
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=10) == 0, out
    text = out.decode(errors="replace")
    assert "/dev/pts/" in text and "TERM=xterm" in text and "got:hello" in text
    r = distill("run", "-t", BUSYBOX, "true", root=root, check=False, input="")
    assert r.returncode == 1 and r.stderr.strip() == "distill: error: -t needs a terminal: the input device is not a TTY"


# The step's header is printed as its stage begins to probe and mount overlayfs; the
# command's own output comes once runc runs it. Both moments leave nothing behind.
@pytest.mark.parametrize("signal_after", ["] RUN printf", "started"], ids=["at-the-header", "while-running"])
def test_interrupted_build_leaves_no_mounts_and_a_sound_store(root, tmp_path, signal_after):
    ctx = write_context(tmp_path / "slow", {"Dockerfile": f"FROM {BUSYBOX}\nRUN printf 'st%s\\n' arted && sleep 60\n"})
    env = dict(os.environ, DISTILL_ROOT=str(root))
    p = subprocess.Popen([sys.executable, "-m", "distill", "build", "--progress", "plain", str(ctx)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    seen = ""
    while time.time() < deadline and signal_after not in seen:
        seen += p.stderr.readline()
    assert signal_after in seen
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    assert p.returncode != 0
    assert leftovers([root]) == {"mounts": [], "containers": [], "processes": []}
    # the store is still usable: the next build works and prune finds nothing broken
    ok = write_context(tmp_path / "ok", {"Dockerfile": f"FROM {BUSYBOX}\nRUN echo fine > /f\n"})
    distill("build", "-q", "-t", "after:1", ok, root=root)
    distill("prune", root=root)
    assert leftovers([root]) == {"mounts": [], "containers": [], "processes": []}
    assert distill("run", "after:1", "cat", "/f", root=root).stdout == "fine\n"


def test_two_builds_at_once_on_one_store(root, tmp_path):
    """Both create layers and snapshots at the same moment: both succeed and stay usable."""
    ctx = write_context(tmp_path / "same", {"Dockerfile": f"FROM {BUSYBOX}\nRUN echo same > /same\n"
                                                         "RUN head -c 100000 /dev/zero > /zeros\n"})
    env = dict(os.environ, DISTILL_ROOT=str(root))
    procs = [subprocess.Popen([sys.executable, "-m", "distill", "build", "-q", "-t", f"twin:{i}", str(ctx)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    from distill.image.layers.unpack import snapshot_id

    distill("prune", root=root)
    for i in range(2):
        diff_ids = json.loads(distill("inspect", f"twin:{i}", root=root).stdout)["Config"]["rootfs"]["diff_ids"]
        for d in diff_ids[1:]:  # the layers these builds made
            assert (root / "snapshots" / f"{snapshot_id(d)}.complete").exists()
            assert (root / "snapshots" / snapshot_id(d)).is_dir()
        assert distill("run", f"twin:{i}", "cat", "/same", root=root).stdout == "same\n"
    assert str(root) not in open("/proc/mounts").read()
