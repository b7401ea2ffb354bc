"""The machine side of the private network for a user other than root: a network
namespace of the build's own (the router) stands where the machine stands for root, with
the bridge, its nftables table and forwarding in it (bridge.py, unchanged), and pasta
(Debian's passt, as rootless podman uses) carrying the router's traffic through the
machine's sockets.

Why not pasta on the container's own namespace, as rootless podman does: pasta turns a
frame the container forges for 127.0.0.1 into a connection to the machine's loopback.
Behind the router a forged frame meets the router's kernel first, which drops it as a
martian, exactly as the machine's kernel does behind docker's bridge; pasta only ever
sees what the router routes out, never a loopback address.

One router serves every container of the process that made it; it lives in that
process's mount and PID namespaces (isolation.py), so it goes when the process does."""

from __future__ import annotations

import os
import subprocess
import threading

from distill.errors import DistillError
from distill.fs.files import touch, which

PASTA = "pasta"
_router: "Router | None" = None
_lock = threading.Lock()


class Router:
    def __init__(self, directory: str, tap_prefix: str):
        self.directory, self.tap_prefix = directory, tap_prefix
        self.netns = os.path.join(directory, "netns")
        self.pasta_pid: int | None = None

    @property
    def nameserver(self) -> str:
        """pasta's DNS forwarder: the machine's resolvers, loopback ones too."""
        return f"{self.tap_prefix}.3"

    def start(self, ports: list = ()) -> None:
        from distill.build.runtime.ready import start_ready
        from distill.fs.files import read_bytes

        touch(self.netns)
        r = subprocess.run(["unshare", f"--net={self.netns}", "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise DistillError(f"could not make the private network's router: {r.stderr.strip()}")
        pid_file = os.path.join(self.directory, "pasta.pid")
        p = self.tap_prefix
        argv = [PASTA, "--config-net", "--quiet", "--foreground", "--runas", "0", "--ipv4-only",
                "-a", f"{p}.100", "-n", "24", "-g", f"{p}.2", "--dns-forward", self.nameserver,
                "--no-map-gw", "-T", "none", "-U", "none",
                "-t", forwards([x for x in ports if x.proto == "tcp"]),
                "-u", forwards([x for x in ports if x.proto == "udp"]),
                "-P", pid_file, "--netns", self.netns]
        # in a session of its own: the PID namespace of the process that made it ends it
        code, said = start_ready(argv, pid_file, os.path.join(self.directory, "pasta.log"), bound=False)
        if code != 0:
            lines = [l for l in said.splitlines() if "syslog" not in l and "Don't run as root" not in l]
            raise DistillError("pasta could not connect the private network: " + ("; ".join(lines) or f"exit {code}"))
        self.pasta_pid = int(read_bytes(pid_file))


def forwards(ports: list) -> str:
    """pasta's -t/-u spec: each published port from the machine to the same port of the
    router, where the port proxy (proxy.py) takes it on to the container."""
    return ",".join(f"{p.host_ip + '/' if p.host_ip else ''}{p.host}" for p in ports) or "none"


def router(ports: list = (), tap_prefix: str = "") -> Router:
    """This process's router, made at first use: pasta gives it `tap_prefix`.100/24 (a
    /24 the machine does not route) and takes in `ports`, the machine's ports (a `distill
    run -p`: one container, whose network makes the router)."""
    global _router
    with _lock:
        if _router is not None and ports:
            raise DistillError("ports can be published only by the process's first private network")
        if _router is None:
            if not which(PASTA):
                raise DistillError("the private network in a user namespace needs pasta "
                                   "(apt-get install passt); or choose --network host or --network none")
            if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
                raise DistillError("the private network in a user namespace needs /dev/net/tun open to this user "
                                   "(mode 0666, as Debian makes it; in a container, --device /dev/net/tun); "
                                   "or choose --network host or --network none")
            from distill.fs.atomic import temp_dir
            from distill.image.store.layout import default_root

            tmp = os.path.join(default_root(), "tmp")
            os.makedirs(tmp, exist_ok=True)
            made = Router(temp_dir(tmp, "router-"), tap_prefix)
            made.start(ports)
            _router = made
        return _router
