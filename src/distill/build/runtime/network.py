"""The network a container gets. `host`: the machine's own. `none`: a namespace with only
loopback. `private` (the default, as docker's bridge): a namespace of its own with an
eth0 on the machine's bridge (runtime/bridge.py); the internet and the machine's other
addresses are reachable from it, services bound to the machine's loopback are not, and
nothing inside is reachable from outside unless a port is published (runtime/proxy.py)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading

from distill.errors import DistillError
from distill.fs.files import read_bytes, touch, unlink, write_text
from distill.record import Record
from distill.build.runtime.isolation import detach
from distill.build.runtime.ready import start_ready
from distill.build.runtime.spec import HOSTNAME, BindMount

MODES = ("private", "host", "none")


def hosts_file(hostname: str, address: str | None) -> str:
    """/etc/hosts as docker writes it: localhost, and the container's name at its address
    (at 127.0.0.1 without one of its own)."""
    own = f"{address}\t{hostname}\n" if address else ""
    return (f"127.0.0.1\tlocalhost{'' if address else ' ' + hostname}\n"
            f"::1\tlocalhost ip6-localhost ip6-loopback\n{own}")


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


def resolv_conf(host_text: str, nameservers: list[str]) -> str:
    """The container's resolv.conf: the machine's search and options lines, and the
    nameservers the network offers (none for `none`)."""
    kept = [l for l in host_text.splitlines() if l.split()[:1] in (["search"], ["domain"], ["options"])]
    return "".join(l + "\n" for l in [f"nameserver {n}" for n in nameservers] + kept)


def _read(path: str) -> str:
    try:
        return read_bytes(path).decode(errors="replace")
    except OSError:
        return ""


class Network:
    """A container's network, set up in `directory` (its namespace file, the port proxy's
    PID file, hosts and resolv.conf) and torn down by stop(); `state()` and `from_state()`
    let a detached container's network be stopped by a later process."""

    def __init__(self, mode: str, directory: str, ports: list[Port] = (), outlives: bool = False,
                 hostname: str = HOSTNAME):
        """`outlives`: the port proxy goes on when this process ends (a detached
        container's); else it dies with the process, however the process dies."""
        if mode not in MODES:
            raise DistillError(f"unknown network {mode!r} ({', '.join(MODES)})")
        if ports and mode != "private":
            raise DistillError(f"ports cannot be published with --network {mode}")
        self.mode, self.directory, self.ports, self.outlives = mode, directory, list(ports), outlives
        self.hostname = hostname
        self.netns = os.path.join(directory, "netns") if mode == "private" else None
        self.address: str | None = None
        self.proxy_pid: int | None = None
        self.files: list[BindMount] = []

    def start(self, as_docker_run: bool = False) -> list[BindMount]:
        """Makes the namespace (and for `private` its place on the bridge and the port
        proxy); returns /etc/hosts and /etc/resolv.conf to bind in, written here so neither
        lands in the image. As BuildKit's RUN: read-only, the hostname at 127.0.0.1;
        `as_docker_run`: writable (entrypoints edit them), the hostname at the container's
        address."""
        nameservers: list[str] = []
        host_resolv = _read("/etc/resolv.conf")
        if self.mode == "private":
            self._make_namespace()
            from distill.build.runtime import bridge

            try:
                self.address = bridge.attach(self.netns, bridge.ensure(self.ports))
                nameservers = bridge.machine_nameservers() or \
                    bridge.container_nameservers(host_resolv, _read("/run/systemd/resolve/resolv.conf"))
                if self.ports:
                    self._start_proxy()
            except BaseException:
                self.stop()
                raise
        hosts, resolv = os.path.join(self.directory, "hosts"), os.path.join(self.directory, "resolv.conf")
        write_text(hosts, hosts_file(self.hostname, self.address if as_docker_run else None))
        write_text(resolv, host_resolv if self.mode == "host" else resolv_conf(host_resolv, nameservers))
        self.files = [BindMount(hosts, "/etc/hosts", not as_docker_run),
                      BindMount(resolv, "/etc/resolv.conf", not as_docker_run)]
        return self.files

    def namespace(self) -> dict | None:
        """The spec's network namespace entry (None: the machine's; `none`: a new one runc
        makes, with loopback only)."""
        if self.mode == "host":
            return None
        return {"type": "network", "path": self.netns} if self.netns else {"type": "network"}

    def _make_namespace(self) -> None:
        touch(self.netns)
        r = subprocess.run(["unshare", f"--net={self.netns}", "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            unlink(self.netns)
            raise DistillError(f"could not make a network namespace: {r.stderr.strip()}")

    def _start_proxy(self) -> None:
        pid_file = os.path.join(self.directory, "proxy.pid")
        from distill.build.runtime import bridge

        # behind a router (a user other than root), pasta brings each port in to the router,
        # where the proxy listens on every address
        router = bridge.machine_netns()
        listen = (lambda p: "") if router else (lambda p: p.host_ip)
        argv = [*(["nsenter", f"--net={router}"] if router else []), sys.executable, "-m",
                "distill.build.runtime.proxy", pid_file,
                *(f"{p.proto},{listen(p)},{p.host},{self.address},{p.container}" for p in self.ports)]
        code, said = start_ready(argv, pid_file, os.path.join(self.directory, "proxy.log"), bound=not self.outlives)
        try:
            self.proxy_pid = int(read_bytes(pid_file))
        except (OSError, ValueError):
            self.proxy_pid = None
        if code != 0 or self.proxy_pid is None:
            raise DistillError(said.strip().splitlines()[-1] if said.strip() else f"the port proxy failed: exit {code}")

    def stop(self) -> None:
        if self.proxy_pid:
            try:
                os.kill(self.proxy_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.proxy_pid = None
        if self.netns and os.path.exists(self.netns):
            # detached, not unmounted: a container's process may still hold it for a moment;
            # the namespace, and the veth with it, goes when the last holder does
            detach(self.netns)
            unlink(self.netns)

    def state(self) -> dict:
        return {"mode": self.mode, "netns": self.netns, "address": self.address, "proxy": self.proxy_pid,
                "ports": [str(p) for p in self.ports]}

    @classmethod
    def from_state(cls, directory: str, state: dict) -> "Network":
        net = cls(state.get("mode", "host"), directory)
        net.netns, net.proxy_pid, net.address = state.get("netns"), state.get("proxy"), state.get("address")
        return net

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def assign_host_ports(ports: list[Port]) -> list[Port]:
    """Each port asked for without a host port gets a free one."""
    return [p if p.host else Port(p.container, free_port(p.proto), p.host_ip, p.proto) for p in ports]


class Pool:
    """Private networks made ahead of the RUN steps that take them, as BuildKit keeps a
    pool of network namespaces: making one (namespace, veth on the bridge) takes a few
    processes' time, which a step would otherwise wait for. Each network serves one step."""

    def __init__(self, directory: str, spares: int = 1):
        self.directory, self.spares = directory, spares
        self._lock = threading.Lock()
        self._ready: list[tuple[threading.Thread, list]] = []
        self._ending: list[threading.Thread] = []
        self._closed = False

    def _make(self, out: list) -> None:
        from distill.fs.atomic import temp_dir

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

    def ahead(self) -> None:
        """One network started now, unless one is being made already."""
        with self._lock:
            if not self._closed and not self._ready:
                self._spawn()

    def give_back(self, net: Network) -> None:
        """Ends `net` behind the build's back (close() waits for it)."""
        def end():
            from distill.fs.atomic import remove_tree

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
