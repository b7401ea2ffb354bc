"""RUN and `distill run` confined as docker confines a container: entitlements for the
machine's network and for privileges, a private network by default (pasta), published
ports, docker's capabilities, masked /proc paths and seccomp filter. Hostile Dockerfiles
against the real runc, pasta and kernel."""

import http.server
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bed.images import copy_image
from bed.leftovers import command_lines
from buildtools import BUSYBOX, build, tree, write_context
from clirun import distill
from distill.solver.options import BuildError

FROM = f"FROM {BUSYBOX}"
PROBE = Path(__file__).parent.parent / "bed" / "probe.c"
DOCKER_CAPS = 0xA80425FB  # CapEff of a process in a default `docker run` (docker's 14 capabilities)


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def machine_address() -> str:
    """This machine's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))
        address = s.getsockname()[0]
    assert not address.startswith("127."), "the machine has no address outside loopback"
    return address


class Server:
    """An HTTP server on `address` answering `marker` to every GET."""

    def __init__(self, address: str, marker: str):
        body = marker.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def fetched(store, tmp_path, url: str, **kw) -> str:
    """What a RUN step got from `url` (busybox wget), or 'unreachable'."""
    text = f"{FROM}\nRUN (wget -q -O /got {url} || echo unreachable > /got) # {time.time()}\n"
    _, _, image = build(store, None, text, **kw)
    return (tree(store, image, tmp_path / f"out-{time.time_ns()}") / "got").read_text().strip()


# ---- entitlements -------------------------------------------------------------------------

INSECURE = f"{FROM}\nRUN echo first > /first\nRUN --security=insecure mkdir -p /mnt && mount -t tmpfs tmpfs /mnt && touch /mnt/x && echo mounted > /ok\n"
HOST_NET = f"{FROM}\nRUN --network=host ls /sys/class/net > /nets\n"


def test_insecure_needs_the_entitlement(store, tmp_path):
    with pytest.raises(BuildError) as e:
        build(store, None, INSECURE)
    assert str(e.value) == ("Dockerfile:3: RUN --security=insecure needs the entitlement security.insecure: "
                            "build with --allow security.insecure")
    _, _, image = build(store, None, INSECURE, allow=("security.insecure",))
    assert (tree(store, image, tmp_path / "out") / "ok").read_text() == "mounted\n"


def test_host_network_needs_the_entitlement(store, tmp_path):
    r = distill("build", "-f", "-", "--progress", "plain", root=store.root, input=HOST_NET, check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith(
        "Dockerfile:2: RUN --network=host needs the entitlement network.host: build with --allow network.host")
    _, _, image = build(store, None, HOST_NET, allow=("network.host",))
    nets = (tree(store, image, tmp_path / "out") / "nets").read_text().split()
    assert sorted(nets) == sorted(os.listdir("/sys/class/net"))  # the machine's interfaces


def test_allow_is_checked(store):
    r = distill("build", "-f", "-", "--allow", "network.hots", root=store.root, input=HOST_NET, check=False)
    assert r.returncode != 0 and r.stderr.strip() == \
        "distill: error: --allow network.hots: unknown entitlement (known: network.host, security.insecure)"


# ---- the private network ------------------------------------------------------------------

def test_default_network_is_private(store, tmp_path):
    with Server("127.0.0.1", "loopback-secret") as local, Server(machine_address(), "public-page") as public:
        # the machine's loopback services are out of reach, its other addresses are not
        assert fetched(store, tmp_path, local.url) == "unreachable"
        assert fetched(store, tmp_path, public.url) == "public-page"
        # the person building may choose the machine's network outright
        assert fetched(store, tmp_path, local.url, network="host") == "loopback-secret"
        assert fetched(store, tmp_path, local.url, network="none") == "unreachable"


def test_private_network_files(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM}
RUN cat /etc/resolv.conf > /resolv && ls /sys/class/net > /nets && ip -4 addr > /addr 2>&1; \\
    nslookup localhost > /lookup 2>&1; true
""")
    root = tree(store, image, tmp_path / "out")
    nameservers = [l.split()[1] for l in (root / "resolv").read_text().splitlines() if l.startswith("nameserver")]
    assert len(nameservers) == 1 and nameservers[0].endswith(".3"), nameservers
    assert sorted((root / "nets").read_text().split()) == ["eth0", "lo"]
    assert ".100/24" in (root / "addr").read_text()
    assert not (root / "etc/resolv.conf").exists() or (root / "etc/resolv.conf").stat().st_size == 0


def test_private_network_reaches_dns(store, tmp_path):
    """Names resolve through the forwarder the container's resolv.conf names."""
    host = "deb.debian.org"
    try:
        socket.getaddrinfo(host, 80)
    except OSError:
        pytest.fail(f"this machine cannot resolve {host}: the test needs a resolver")
    _, _, image = build(store, None, f"{FROM}\nRUN nslookup {host} > /lookup 2>&1 || true\n")
    out = (tree(store, image, tmp_path / "out") / "lookup").read_text()
    assert "Address" in out and "can't resolve" not in out, out


# ---- docker's confinement -----------------------------------------------------------------

@pytest.fixture(scope="module")
def probe_context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("probe")
    subprocess.run(["gcc", "-static", "-O1", "-o", str(ctx / "probe"), str(PROBE)], check=True)
    return ctx


def probed(store, ctx, tmp_path, security: str = "") -> dict:
    flag = f"--security={security} " if security else ""
    _, _, image = build(store, ctx, f"{FROM}\nCOPY probe /probe\nRUN {flag}/probe > /probed\n",
                        allow=("security.insecure",))
    lines = (tree(store, image, tmp_path / f"out{security}") / "probed").read_text().splitlines()
    return dict(l.split("=", 1) for l in lines)


def test_default_run_is_confined_as_docker(store, probe_context, tmp_path):
    got = probed(store, probe_context, tmp_path)
    refused = {k: got[k] for k in ("mount", "unshare_user", "unshare_net", "clone_user", "keyctl", "init_module",
                                   "settime", "io_uring")}
    assert refused == {k: "EPERM" for k in refused}, got
    assert got["kcore"] in ("ENODATA", "ENOENT")  # masked (empty), or absent from this kernel
    assert got["proc_sys"] == "EROFS"             # /proc/sys read-only
    assert got["disk"] == "EPERM"                 # mknod works, the device cgroup refuses the machine's disk
    assert got["fork"] == "ok"
    assert int(got["CapEff"], 16) == DOCKER_CAPS
    assert got["Seccomp"] == "2" and got["NoNewPrivs"] == "0"


def test_insecure_run_is_privileged(store, probe_context, tmp_path):
    got = probed(store, probe_context, tmp_path, "insecure")
    assert got["mount"] == "ok" and got["keyctl"] == "ok" and got["Seccomp"] == "0"
    assert int(got["CapEff"], 16) & (1 << 21)  # CAP_SYS_ADMIN


# ---- distill run ------------------------------------------------------------------------

def _get(url: str, timeout: float = 10) -> str:
    deadline = time.time() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_image(store, tmp_path):
    ctx = write_context(tmp_path / "web", {"www/index.html": "served from inside\n"})
    build(store, ctx, f"{FROM}\nCOPY www /www\nEXPOSE 8000\nCMD [\"httpd\", \"-f\", \"-p\", \"8000\", \"-h\", \"/www\"]\n",
          tags=["localhost/web:test"])
    return "localhost/web:test"


def test_run_publishes_ports(store, web_image):
    host_port = free_port()
    r = distill("run", "-d", "-p", f"{host_port}:8000", web_image, root=store.root)
    cid = r.stdout.strip()
    try:
        assert _get(f"http://127.0.0.1:{host_port}/") == "served from inside\n"
        with pytest.raises(OSError):  # nothing listens on the container's own port on the machine
            urllib.request.urlopen("http://127.0.0.1:8000/", timeout=2)
    finally:
        distill("stop", "-t", "1", cid, root=store.root)
    # stopped: pasta is gone, and nothing listens on the port (binding it would race the
    # TIME_WAIT pasta's side of the connection may be left in; connecting, a self-connect)
    assert _settles(lambda: not any(str(store.root) in a for a in _pasta_args()))
    assert _settles(lambda: host_port not in _listening())


def test_run_publish_all(store, web_image):
    r = distill("run", "-d", "-P", web_image, root=store.root)
    cid = r.stdout.strip()
    try:
        line = [l for l in r.stderr.splitlines() if l.startswith("published 8000/tcp -> ")]
        assert line, r.stderr
        port = int(line[0].rsplit(":", 1)[1])
        assert _get(f"http://127.0.0.1:{port}/") == "served from inside\n"
    finally:
        distill("stop", "-t", "1", cid, root=store.root)


def test_run_default_network_is_private(store, tmp_path):
    with Server("127.0.0.1", "loopback-secret") as local:
        r = distill("run", BUSYBOX, "sh", "-c", f"wget -q -O - {local.url} || echo unreachable",
                    root=store.root)
        assert r.stdout.strip() == "unreachable"
        r = distill("run", "--network", "host", BUSYBOX, "wget", "-q", "-O", "-", local.url, root=store.root)
        assert r.stdout.strip() == "loopback-secret"


def test_run_bad_port(store):
    r = distill("run", "-p", "80:http", BUSYBOX, "true", root=store.root, check=False)
    assert r.returncode != 0 and r.stderr.strip() == \
        "distill: error: invalid port '80:http': expected [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]"
    r = distill("run", "--network", "none", "-p", "8080:80", BUSYBOX, "true", root=store.root, check=False)
    assert r.returncode != 0 and r.stderr.strip() == "distill: error: ports cannot be published with --network none"


def _pasta_args() -> list[str]:
    return [b" ".join(cmd).decode(errors="replace") for _, cmd in command_lines() if cmd[0].endswith(b"pasta")]


def _listening() -> set[int]:
    """The TCP ports something listens on, from the kernel's tables."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                fields = row.split()
                if fields[3] == "0A":  # LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _settles(predicate, timeout: float = 5.0) -> bool:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_no_pasta_or_namespace_outlives_a_build(store, tmp_path):
    """Each RUN gets a network of its own from a pool made ahead; when the build ends, no
    pasta, namespace mount or directory of them is left."""
    mine = lambda: [a for a in _pasta_args() if str(store.root) in a]
    build(store, None, f"{FROM}\nRUN echo one > /1\nRUN ls /sys/class/net > /nets\nRUN echo three > /3\n")
    assert _settles(lambda: not mine()), mine()
    assert str(store.root) not in Path("/proc/self/mountinfo").read_text()
    assert os.listdir(store.tmp_dir) == []
