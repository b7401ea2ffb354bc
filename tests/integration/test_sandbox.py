"""RUN and `distill run` confined as docker confines a container: entitlements for the
machine's network and for privileges, a private network by default (a bridge, as
docker's), published ports, docker's capabilities, masked /proc paths and seccomp
profile, and privileged steps as docker's --privileged. Hostile Dockerfiles against the
real runc, bridge, nftables and kernel."""

import os
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from bed.images import copy_image
from bed.leftovers import bridge_veths, command_lines
from bed.programs import static_program
from bed.net import Listener, Server, answer, closed_port, free_port, listening, machine_address, machine_addresses
from buildtools import BUSYBOX, build, tree, write_context
from clirun import distill
from distill.build.runtime import bridge
from distill.build.solver.options import BuildError

FROM = f"FROM {BUSYBOX}"
DOCKER_CAPS = 0xA80425FB  # CapEff of a process in a default `docker run` (docker's 14 capabilities)


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


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


def test_machine_sees_the_container_address(store, tmp_path):
    """Connections to the machine's own address come from the container's address on the
    bridge, not from one of the machine's (services that trust the machine's own IP do
    not trust a build), as docker's bridge has them."""
    with Server(machine_address(), "public-page") as public:
        assert fetched(store, tmp_path, public.url) == "public-page"
        r = distill("run", BUSYBOX, "wget", "-q", "-O", "-", public.url, root=store.root)
        assert r.stdout.strip() == "public-page"
    prefix = bridge.ensure()
    assert len(public.peers) == 2 and not set(public.peers) & machine_addresses(), public.peers
    assert all(p.startswith(prefix + ".") for p in public.peers), (prefix, public.peers)


def test_private_network_files(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM}
RUN cat /etc/resolv.conf > /resolv && ls /sys/class/net > /nets && ip -4 addr > /addr 2>&1; \\
    ip route > /route; true
""")
    root = tree(store, image, tmp_path / "out")
    nameservers = [l.split()[1] for l in (root / "resolv").read_text().splitlines() if l.startswith("nameserver")]
    assert nameservers == bridge.container_nameservers(Path("/etc/resolv.conf").read_text()), nameservers
    assert sorted((root / "nets").read_text().split()) == ["eth0", "lo"]
    prefix = bridge.ensure()
    assert f"inet {prefix}." in (root / "addr").read_text() and "/24" in (root / "addr").read_text()
    assert f"default via {prefix}.1 dev eth0" in (root / "route").read_text()
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


def test_rules_taken_away_behind_its_back_are_made_again(store, tmp_path):
    """The bridge's rules are applied once and kept while they stand (a build does not
    wait on replacing them); a ruleset flushed since, as a firewall reload does, is seen
    and the table made again by the next build."""
    import subprocess

    subprocess.run(["nft", "delete", "table", "ip", "distill"], capture_output=True)
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"{FROM}\nRUN ls /sys/class/net > /nets # {time.time()}\n"})
    distill("build", "-t", "localhost/rules:1", ctx, root=store.root)
    listed = subprocess.run(["nft", "list", "table", "ip", "distill"], capture_output=True, text=True)
    assert listed.returncode == 0 and "masquerade" in listed.stdout, listed.stderr


# ---- docker's confinement -----------------------------------------------------------------

@pytest.fixture(scope="module")
def probe_context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("probe")
    static_program("probe", ctx)
    return ctx


def probed(store, ctx, tmp_path, security: str = "") -> dict:
    flag = f"--security={security} " if security else ""
    _, _, image = build(store, ctx, f"{FROM}\nCOPY probe /probe\nRUN {flag}/probe > /probed\n",
                        allow=("security.insecure",))
    lines = (tree(store, image, tmp_path / f"out{security}") / "probed").read_text().splitlines()
    return dict(l.split("=", 1) for l in lines)


def test_default_run_is_confined_as_docker(store, probe_context, tmp_path):
    """docker's default seccomp profile (an allow-list) and capabilities, as `docker run`
    has them: what the profile refuses without CAP_SYS_ADMIN fails with EPERM; what it
    allows passes to the kernel."""
    got = probed(store, probe_context, tmp_path)
    refused = {k: got[k] for k in ("mount", "unshare_user", "unshare_net", "clone_user", "keyctl", "init_module",
                                   "settime", "io_uring", "personality", "fanotify", "process_madvise", "bpf")}
    assert refused == {k: "EPERM" for k in refused}, got
    assert got["personality_query"] == "ok" and got["adjtimex"] == "ok"  # a persona query, a read-only clock query
    assert got["kcore"] in ("ENODATA", "ENOENT")  # masked (empty), or absent from this kernel
    assert got["proc_sys"] == "EROFS"             # /proc/sys read-only
    assert got["sys_write"] == "EROFS"            # /sys read-only
    assert got["disk"] == "EPERM"                 # mknod works, the device cgroup refuses the machine's disk
    assert got["loop"] == "ENOENT"                # no /dev/loop-control: the machine's devices are not there
    assert got["fork"] == "ok"
    assert int(got["CapEff"], 16) == DOCKER_CAPS
    assert got["Seccomp"] == "2" and got["NoNewPrivs"] == "0"


def _bounding_set() -> int:
    return int(Path("/proc/self/status").read_text().split("CapBnd:")[1].split()[0], 16)


def test_insecure_run_is_privileged(store, probe_context, tmp_path):
    """RUN --security=insecure is docker's --privileged, as BuildKit's: every capability
    the builder holds, no seccomp filter, the machine's devices, /sys writable."""
    got = probed(store, probe_context, tmp_path, "insecure")
    assert int(got["CapEff"], 16) == _bounding_set()
    assert got["Seccomp"] == "0"
    assert got["mount"] == "ok" and got["keyctl"] == "ok" and got["unshare_user"] == "ok"
    assert got["loop"] == "ok"                    # a loop device set up on a file
    assert got["sys_write"] == "ok" and got["proc_sys"] == "ok"
    assert got["process_madvise"] == "EBADF" and got["personality"] == "ok"  # no filter between them and the kernel


# ---- forged frames ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def netprobe_context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("netprobe")
    static_program("netprobe", ctx)
    return ctx


def _frames(run_probe) -> None:
    """SYNs forged for the machine's loopback (127.0.0.1 and ::1, a listening and a closed
    port) get no answer and reach nothing; the same port at the bridge's address is not
    the loopback server's; a SYN-ACK from a server on every address shows that the probe's
    frames do arrive."""
    gateway = bridge.ensure() + ".1"
    with Listener("127.0.0.1") as v4, Listener("::1") as v6, Listener("0.0.0.0") as everywhere:
        closed = closed_port()
        loopback = [f"127.0.0.1:{v4.port}", f"127.0.0.1:{closed}", f"[::1]:{v6.port}", f"[::1]:{closed}"]
        got = run_probe(loopback + [f"{gateway}:{v4.port}", f"{gateway}:{everywhere.port}",
                                    f"{machine_address()}:{everywhere.port}"])
        assert {t: got[t] for t in loopback} == {t: "none" for t in loopback}, got
        assert v4.accepted == 0 and v6.accepted == 0
        # at the bridge's address only what listens on every address answers, as on docker0
        assert got[f"{gateway}:{v4.port}"] == "rst"
        assert got[f"{gateway}:{everywhere.port}"] == "synack"
        assert got[f"{machine_address()}:{everywhere.port}"] == "synack"


def test_forged_frames_from_a_run_step(store, netprobe_context, tmp_path):
    def run_probe(targets):
        _, _, image = build(store, netprobe_context, f"{FROM}\nCOPY netprobe /netprobe\n"
                                                     f"RUN /netprobe {' '.join(targets)} > /probed\n")
        text = (tree(store, image, tmp_path / f"out-{time.time_ns()}") / "probed").read_text()
        return dict(l.split("=", 1) for l in text.splitlines())

    _frames(run_probe)


def test_forged_frames_from_distill_run(store, netprobe_context):
    build(store, netprobe_context, f"{FROM}\nCOPY netprobe /netprobe\n", tags=["localhost/netprobe:test"])

    def run_probe(targets):
        r = distill("run", "localhost/netprobe:test", "/netprobe", *targets, root=store.root)
        return dict(l.split("=", 1) for l in r.stdout.splitlines())

    _frames(run_probe)


# ---- distill run ------------------------------------------------------------------------

@pytest.fixture
def web_image(store, tmp_path):
    ctx = write_context(tmp_path / "web", {"www/index.html": "served from inside\n"})
    build(store, ctx, f"{FROM}\nCOPY www /www\nEXPOSE 8000\nCMD [\"httpd\", \"-f\", \"-p\", \"8000\", \"-h\", \"/www\"]\n",
          tags=["localhost/web:test"])
    return "localhost/web:test"


def test_run_publishes_ports(store, web_image):
    host_port = free_port()
    bridge.ensure()
    before = bridge_veths()
    r = distill("run", "-d", "-p", f"{host_port}:8000", web_image, root=store.root)
    cid = r.stdout.strip()
    try:
        assert answer(f"http://127.0.0.1:{host_port}/") == "served from inside\n"
        with pytest.raises(OSError):  # nothing listens on the container's own port on the machine
            urllib.request.urlopen("http://127.0.0.1:8000/", timeout=2)
        # the proxy gave up root once it had bound the port: it only relays bytes
        proxies = [pid for pid, cmd in command_lines() if b"distill.build.runtime.proxy" in cmd
                   and any(str(store.root).encode() in a for a in cmd)]
        assert len(proxies) == 1
        ids = [l.split()[1:] for l in Path(f"/proc/{proxies[0]}/status").read_text().splitlines()
               if l.startswith(("Uid:", "Gid:", "Groups:", "CapEff:"))]
        assert ids == [["65534"] * 4, ["65534"] * 4, [], ["0000000000000000"]], ids
    finally:
        distill("stop", "-t", "1", cid, root=store.root)
    # stopped: the proxy is gone, and nothing listens on the port (binding it would race the
    # TIME_WAIT the proxy's side of the connection may be left in; connecting, a self-connect)
    assert _settles(lambda: not any(str(store.root) in a for a in _proxy_args()))
    assert _settles(lambda: host_port not in listening())
    assert _settles(lambda: bridge_veths() <= before), "the container's veth outlived it"


def test_run_publishes_udp(store, tmp_path):
    """A UDP port: each datagram relayed to the container, the answer relayed back."""
    ctx = tmp_path / "udp"
    ctx.mkdir()
    static_program("udpecho", ctx)
    build(store, ctx, f"{FROM}\nCOPY udpecho /udpecho\n", tags=["localhost/udpecho:test"])
    host_port = free_port()
    r = distill("run", "-d", "-p", f"{host_port}:9999/udp", "localhost/udpecho:test", "/udpecho", "9999",
                root=store.root)
    cid = r.stdout.strip()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            deadline = time.time() + 10
            while True:
                s.sendto(b"ping\n", ("127.0.0.1", host_port))
                try:
                    assert s.recvfrom(100)[0] == b"ping\n"
                    break
                except socket.timeout:
                    assert time.time() < deadline, "no answer through the UDP port"
    finally:
        distill("stop", "-t", "1", cid, root=store.root)


def test_run_files_hostname_and_cgroup(store):
    """As docker run: /etc/hosts and /etc/resolv.conf writable (entrypoints edit them),
    $HOSTNAME set to the container's name, its cgroup mounted read-only at /sys/fs/cgroup
    with the limits -m and --pids-limit set."""
    script = ("echo '10.1.2.3 added' >> /etc/hosts && echo hosts=$(tail -1 /etc/hosts | cut -d' ' -f2); "
              "echo '# edited' >> /etc/resolv.conf && echo resolv=ok; echo HOSTNAME=$HOSTNAME; "
              "echo name=$(hostname); echo own=$(grep -c \"$(hostname)\" /etc/hosts); "
              "echo memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null); "
              "echo pids=$(cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null); "
              "f=/sys/fs/cgroup/pids/pids.max; [ -e $f ] || f=/sys/fs/cgroup/pids.max; "
              "(echo 1 > $f) 2>/dev/null || echo cgroup=ro")
    r = distill("run", "--name", "filescheck", "-m", "64m", "--pids-limit", "50", BUSYBOX, "sh", "-c", script,
                root=store.root)
    got = dict(l.split("=", 1) for l in r.stdout.splitlines())
    assert got["hosts"] == "added" and got["resolv"] == "ok"
    assert got["HOSTNAME"] == got["name"] == "filescheck" and got["own"] == "1"
    assert got["memory"] == str(64 << 20) and got["pids"] == "50" and got["cgroup"] == "ro"
    # a RUN step's are the build's: not writable
    with pytest.raises(BuildError):
        build(store, None, f"{FROM}\nRUN echo x >> /etc/hosts\n")


def test_run_publish_all(store, web_image):
    r = distill("run", "-d", "-P", web_image, root=store.root)
    cid = r.stdout.strip()
    try:
        line = [l for l in r.stderr.splitlines() if l.startswith("published 8000/tcp -> ")]
        assert line, r.stderr
        port = int(line[0].rsplit(":", 1)[1])
        assert answer(f"http://127.0.0.1:{port}/") == "served from inside\n"
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


def _proxy_args() -> list[str]:
    return [b" ".join(cmd).decode(errors="replace") for _, cmd in command_lines() if b"distill.build.runtime.proxy" in cmd]



def _settles(predicate, timeout: float = 5.0) -> bool:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_no_namespace_or_veth_outlives_a_build(store, tmp_path):
    """Each RUN gets a network of its own from a pool made ahead; when the build ends, no
    namespace mount, veth or directory of them is left."""
    bridge.ensure()
    before = bridge_veths()
    build(store, None, f"{FROM}\nRUN echo one > /1\nRUN ls /sys/class/net > /nets\nRUN echo three > /3\n")
    assert _settles(lambda: bridge_veths() <= before), bridge_veths() - before
    assert str(store.root) not in Path("/proc/self/mountinfo").read_text()
    assert os.listdir(store.tmp_dir) == []
