"""The network a container gets. `host`: the machine's own. `none`: a namespace with only
loopback. `private` (the default, as docker's bridge): a namespace of its own whose traffic
pasta (Debian's passt, as rootless podman uses) carries through the machine's sockets. The
internet and the machine's other addresses are reachable from it; services bound to the
machine's loopback are not (no gateway-to-loopback mapping, no port forwarding back to the
host), and nothing inside is reachable from outside unless a port is published."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from ..errors import DistillError
from ..files import read_bytes, touch, unlink, write_text
from ..record import Record
from .isolation import detach
from .spec import HOSTNAME, BindMount

PASTA = "pasta"
MODES = ("private", "host", "none")

HOSTS = f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"

# The private network's /24, as slirp4netns lays it out: .2 the gateway, .3 the DNS
# forwarder, .100 the container. Another candidate is taken when the machine routes the first.
SUBNETS = ("10.0.2", "10.88.2", "172.30.2", "192.168.233")


class Port(Record):
    """One published port: docker's -p [IP:][HOST:]CONTAINER[/PROTO]."""

    container: int
    host: int = 0            # 0: a free port, chosen when the container starts
    host_ip: str = ""        # "": every address of the machine
    proto: str = "tcp"

    def __str__(self) -> str:
        where = f"{self.host_ip}:" if self.host_ip else "0.0.0.0:"
        return f"{self.container}/{self.proto} -> {where}{self.host}"


_PORT = re.compile(r"^(?:(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?P<host>\d*):)?"
                   r"(?P<container>\d+)(?:/(?P<proto>tcp|udp))?$")


def parse_port(text: str) -> Port:
    m = _PORT.match(text)
    if not m:
        raise DistillError(f"invalid port {text!r}: expected [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]")
    numbers = [int(m["container"])] + ([int(m["host"])] if m["host"] else [])
    if any(not 0 < n < 65536 for n in numbers):
        raise DistillError(f"invalid port {text!r}: port numbers go from 1 to 65535")
    return Port(int(m["container"]), int(m["host"] or 0), (m["ip"] or "").strip("[]"), m["proto"] or "tcp")


def exposed_ports(config: dict) -> list[Port]:
    """The image's EXPOSEd ports, each on a free port of the machine (docker run -P)."""
    out = []
    for key in sorted((config.get("config") or {}).get("ExposedPorts") or {}):
        number, _, proto = key.partition("/")
        if number.isdigit():
            out.append(Port(int(number), 0, "", proto or "tcp"))
    return out


def free_port(proto: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def routed_prefixes(route_table: str) -> set[str]:
    """The first three octets of every IPv4 network the machine routes (from
    /proc/net/route; the default route left out), to keep the private subnet apart."""
    out = set()
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, mask = int(fields[1], 16), int(fields[7], 16)
        if mask == 0:  # a default route
            continue
        for prefix in SUBNETS:
            a, b, c = (int(x) for x in prefix.split("."))
            probe = a | b << 8 | c << 16   # /proc/net/route is little-endian
            if probe & mask == dest & mask:
                out.add(prefix)
    return out


def subnet(route_table: str) -> str:
    taken = routed_prefixes(route_table)
    for prefix in SUBNETS:
        if prefix not in taken:
            return prefix
    raise DistillError("no free private subnet: the machine routes all of " + ", ".join(f"{p}.0/24" for p in SUBNETS))


def resolv_conf(host_text: str, nameserver: str | None) -> str:
    """The container's resolv.conf: the machine's search and options lines, and the one
    nameserver the network offers (none for `none`)."""
    kept = [l for l in host_text.splitlines() if l.split()[:1] in (["search"], ["domain"], ["options"])]
    return "".join(l + "\n" for l in ([f"nameserver {nameserver}"] if nameserver else []) + kept)


def _host_resolv() -> str:
    try:
        return read_bytes("/etc/resolv.conf").decode(errors="replace")
    except OSError:
        return ""


class Network:
    """A container's network, set up in `directory` (its namespace file, pasta's PID file,
    hosts and resolv.conf) and torn down by stop(); `state()` and `from_state()` let a
    detached container's network be stopped by a later process."""

    def __init__(self, mode: str, directory: str, ports: list[Port] = (), outlives: bool = False):
        """`outlives`: pasta goes on when this process ends (a detached container's); else
        it dies with the process, however the process dies."""
        if mode not in MODES:
            raise DistillError(f"unknown network {mode!r} ({', '.join(MODES)})")
        if ports and mode != "private":
            raise DistillError(f"ports cannot be published with --network {mode}")
        self.mode, self.directory, self.ports, self.outlives = mode, directory, list(ports), outlives
        self.netns = os.path.join(directory, "netns") if mode == "private" else None
        self.pasta_pid: int | None = None
        self.files: list[BindMount] = []

    def start(self) -> list[BindMount]:
        """Makes the namespace and starts pasta on it (private); returns /etc/hosts and
        /etc/resolv.conf to bind in, written here so neither lands in the image."""
        nameserver = None
        if self.mode == "private":
            nameserver = self._start_private()
        host_resolv = _host_resolv()
        hosts, resolv = os.path.join(self.directory, "hosts"), os.path.join(self.directory, "resolv.conf")
        write_text(hosts, HOSTS)
        write_text(resolv, host_resolv if self.mode == "host" else resolv_conf(host_resolv, nameserver))
        self.files = [BindMount(hosts, "/etc/hosts"), BindMount(resolv, "/etc/resolv.conf")]
        return self.files

    def namespace(self) -> dict | None:
        """The spec's network namespace entry (None: the machine's)."""
        if self.mode == "host":
            return None
        return {"type": "network", "path": self.netns} if self.netns else {"type": "network"}

    def _start_private(self) -> str:
        if not shutil.which(PASTA):
            raise DistillError("the private network needs pasta (apt-get install passt); "
                               "or choose --network host or --network none")
        try:
            prefix = subnet(read_bytes("/proc/net/route").decode())
        except OSError:
            prefix = SUBNETS[0]
        touch(self.netns)
        r = subprocess.run(["unshare", f"--net={self.netns}", "true"], capture_output=True, text=True)
        if r.returncode != 0:
            unlink(self.netns)
            raise DistillError(f"could not make a network namespace: {r.stderr.strip()}")
        pid_file = os.path.join(self.directory, "pasta.pid")
        tcp = [p for p in self.ports if p.proto == "tcp"]
        udp = [p for p in self.ports if p.proto == "udp"]
        argv = [PASTA, "--config-net", "--quiet", "--runas", "0", "--ipv4-only",
                "-a", f"{prefix}.100", "-n", "24", "-g", f"{prefix}.2", "--dns-forward", f"{prefix}.3",
                "--no-map-gw", "-T", "none", "-U", "none",
                "-t", _forwards(tcp), "-u", _forwards(udp), "-P", pid_file, "--netns", self.netns]
        if self.outlives or not shutil.which("setpriv"):
            r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            code, said = r.returncode, r.stderr
        else:
            code, said = _start_bound(argv + ["--foreground"], pid_file, os.path.join(self.directory, "pasta.log"))
        try:
            self.pasta_pid = int(read_bytes(pid_file))
        except (OSError, ValueError):
            self.pasta_pid = None
        if code != 0 or self.pasta_pid is None:
            self.stop()
            said = [l for l in said.splitlines() if "syslog" not in l and "Don't run as root" not in l]
            raise DistillError("pasta could not start the private network: " + ("; ".join(said) or f"exit {code}"))
        return f"{prefix}.3"

    def stop(self) -> None:
        if self.pasta_pid:
            # not waited for: pasta also quits by itself once its namespace file is gone
            try:
                os.kill(self.pasta_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.pasta_pid = None
        if self.netns and os.path.exists(self.netns):
            # detached, not unmounted: the copy in pasta's own mount namespace may still be there
            detach(self.netns)
            unlink(self.netns)

    def state(self) -> dict:
        return {"mode": self.mode, "netns": self.netns, "pasta": self.pasta_pid,
                "ports": [str(p) for p in self.ports]}

    @classmethod
    def from_state(cls, directory: str, state: dict) -> "Network":
        net = cls(state.get("mode", "host"), directory)
        net.netns, net.pasta_pid = state.get("netns"), state.get("pasta")
        return net

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Spawner:
    """Starts processes from one thread that lives as long as this process: a child's
    parent-death signal fires when the thread that started it ends, and a step's thread
    ends long before the build does."""

    def __init__(self):
        import queue

        self.jobs: "queue.Queue" = queue.Queue()
        threading.Thread(target=self._serve, name="spawner", daemon=True).start()

    def _serve(self) -> None:
        while True:
            argv, kwargs, done = self.jobs.get()
            try:
                done.append(subprocess.Popen(argv, **kwargs))
            except BaseException as e:  # handed to the caller
                done.append(e)
            done.append(None)

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        done: list = []
        self.jobs.put((argv, kwargs, done))
        while len(done) < 2:
            time.sleep(0.0005)
        if isinstance(done[0], BaseException):
            raise done[0]
        return done[0]


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()
READY_TIMEOUT = 30.0


def _start_bound(argv: list[str], pid_file: str, log: str) -> tuple[int, str]:
    """pasta in the foreground, killed (SIGKILL, by the kernel: setpriv --pdeathsig) when
    this process ends; ready once it has written its PID file. (0, "") or (exit, stderr)."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = _Spawner()
    with open(log, "wb") as err:
        proc = _spawner.popen(["setpriv", "--pdeathsig", "KILL", "--", *argv], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc.returncode or 1, read_bytes(log).decode(errors="replace")
        try:
            if read_bytes(pid_file).strip():
                return 0, ""
        except OSError:
            pass
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    return 1, f"not ready in {READY_TIMEOUT:.0f} s"


def _forwards(ports: list[Port]) -> str:
    """pasta's -t/-u spec: [ADDR/]HOST:CONTAINER,... or none."""
    if not ports:
        return "none"
    return ",".join(f"{p.host_ip + '/' if p.host_ip else ''}{p.host}:{p.container}" for p in ports)


def assign_host_ports(ports: list[Port]) -> list[Port]:
    """Each port asked for without a host port gets a free one."""
    return [p if p.host else Port(p.container, free_port(p.proto), p.host_ip, p.proto) for p in ports]


class Pool:
    """Private networks made ahead of the RUN steps that take them, as BuildKit keeps a
    pool of network namespaces: making one (namespace, pasta) takes ~25 ms, which a step
    would otherwise wait for. Each network serves one step."""

    def __init__(self, directory: str, spares: int = 1):
        self.directory, self.spares = directory, spares
        self._lock = threading.Lock()
        self._ready: list[tuple[threading.Thread, list]] = []
        self._ending: list[threading.Thread] = []
        self._closed = False

    def _make(self, out: list) -> None:
        from ..store.atomic import temp_dir

        try:
            net = Network("private", temp_dir(self.directory, "net-"))
            out.append(net)
            net.start()
        except BaseException as e:  # handed to the step that takes it
            out.append(e)

    def _spawn(self) -> None:
        out: list = []
        t = threading.Thread(target=self._make, args=(out,), daemon=True)
        t.start()
        self._ready.append((t, out))

    def take(self) -> Network:
        """A started network of its own (its namespace file and /etc files in a
        directory of its own)."""
        with self._lock:
            if self._closed:
                raise DistillError("the build is over")
            if not self._ready:
                self._spawn()
            t, out = self._ready.pop(0)
            while len(self._ready) < self.spares:
                self._spawn()
        t.join()
        if isinstance(out[-1], BaseException):
            if isinstance(out[0], Network):
                self.give_back(out[0])
            raise out[-1]
        return out[0]

    def give_back(self, net: Network) -> None:
        """Ends `net` behind the build's back (close() waits for it)."""
        def end():
            from ..store.atomic import remove_tree

            net.stop()
            remove_tree(net.directory)

        t = threading.Thread(target=end, daemon=True)
        t.start()
        with self._lock:
            self._ending.append(t)

    def close(self) -> None:
        """Ends the spares, and waits until every network is ended."""
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
        for t, out in ready:
            t.join()
            if out and isinstance(out[0], Network):
                self.give_back(out[0])
        for t in self._ending:
            t.join()
