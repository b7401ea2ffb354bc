"""The private network as docker's default bridge makes it: a bridge on the machine
(`distill0`, a /24 the machine does not route), a veth pair per container with the
container's end as its eth0, and the machine forwarding and masquerading what leaves.

Why a bridge and not a user-mode stack (pasta, slirp4netns) when distill runs as root:
a user-mode stack opens the container's connections with the machine's own sockets, so
they arrive from the machine's own address, and it turns a frame the container forges for
127.0.0.1 into a connection to the machine's loopback. Through a veth, frames reach the
machine's kernel as frames from another host: one addressed to 127.0.0.1 or ::1 is a
martian and is dropped, and the machine sees the container's own address as the source.

The bridge, its address, the nftables table `ip distill` and net.ipv4.ip_forward=1 stay
once made, as docker0 and docker's rules do. Ports of the bridge are isolated from each
other: one container cannot reach another's. Each veth's machine-side name carries the
container's address, so creating it is what reserves the address (EEXIST: taken), and it
goes with the container's namespace: nothing is left to collect."""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading

from distill.errors import DistillError
from distill.fs.atomic import write_file
from distill.fs.files import read_bytes, read_text, which

BRIDGE = "distill0"
TABLE = "distill"
LOCK = "/run/distill/network.lock"
RULES = "/run/distill/network.rules"  # the nftables script last applied
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # docker's, when the machine names only loopback resolvers
# The bridge's /24 (.1 the machine, the gateway): the first the machine does not route.
SUBNETS = ("10.88.2", "10.0.2", "172.30.2", "192.168.233")
_made: str | None = None
_made_lock = threading.Lock()
# The machine side's network namespace: None, this process's (root's builds); for a user
# other than root, its router's (router.py), where the bridge is made instead.
_machine: str | None = None


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


def nft_script(prefix: str) -> str:
    """The table `ip distill`, replaced whole: masquerade what leaves the subnet by another
    interface, forward the subnet's own traffic and the answers to it, nothing else in."""
    net = f"{prefix}.0/24"
    return (f"table ip {TABLE}\ndelete table ip {TABLE}\n"
            f"table ip {TABLE} {{\n"
            f"  chain postrouting {{ type nat hook postrouting priority srcnat; "
            f"ip saddr {net} oifname != \"{BRIDGE}\" masquerade; }}\n"
            f"  chain forward {{ type filter hook forward priority filter; "
            f"iifname \"{BRIDGE}\" ip saddr {net} accept; "
            f"oifname \"{BRIDGE}\" ct state established,related accept; "
            f"iifname \"{BRIDGE}\" drop; oifname \"{BRIDGE}\" drop; }}\n"
            f"}}\n")


def veth_name(address: str) -> str:
    """The machine-side end of a container's veth: `dl` and the address in hex (15 at most)."""
    return "dl" + "".join(f"{int(x):02x}" for x in address.split("."))


def container_nameservers(host_resolv: str, systemd_resolv: str = "") -> list[str]:
    """The resolvers a container on the bridge uses, as docker picks them: the machine's,
    less loopback ones (unreachable from the container); systemd-resolved's upstream list
    when the machine names only its stub; else docker's public fallback."""
    def usable(text: str) -> list[str]:
        out = []
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver" and ":" not in fields[1] \
                    and not fields[1].startswith("127."):
                out.append(fields[1])
        return out

    return usable(host_resolv) or usable(systemd_resolv) or list(FALLBACK_DNS)


def _in(netns: str | None, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    """`argv` run in the network namespace at `netns` (None: this process's)."""
    argv = (["nsenter", f"--net={netns}"] if netns else []) + argv
    return subprocess.run(argv, input=stdin, capture_output=True, text=True)


def _ip(*args: str, stdin: str | None = None, netns: str | None = None) -> subprocess.CompletedProcess:
    """`ip` in the container's namespace at `netns`, else on the machine side."""
    return _in(netns or _machine, ["ip", *args], stdin)


def _require(r: subprocess.CompletedProcess, what: str) -> None:
    if r.returncode != 0:
        said = (r.stderr or r.stdout).strip().splitlines()
        raise DistillError(f"could not {what}: {said[-1] if said else f'exit {r.returncode}'}")


def _bridge_prefix() -> str | None:
    r = _ip("-j", "-4", "addr", "show", "dev", BRIDGE)
    if r.returncode != 0:
        return None
    try:
        for link in json.loads(r.stdout or "[]"):
            for a in link.get("addr_info") or []:
                if a.get("prefixlen") == 24 and str(a.get("local", "")).endswith(".1"):
                    return a["local"].rsplit(".", 1)[0]
    except (ValueError, AttributeError, TypeError):
        pass
    return None


def ensure(ports: list = ()) -> str:
    """The bridge's /24 prefix (e.g. "10.88.2"), making the bridge, its rules and IPv4
    forwarding first when the machine side has none yet (for a user other than root, the
    router first, taking in `ports`)."""
    global _made, _machine
    with _made_lock:
        if _made:
            return _made
        for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("nsenter", "util-linux")):
            if not which(tool):
                raise DistillError(f"the private network needs {tool} (apt-get install {package}); "
                                   "or choose --network host or --network none")
        from distill.fs import in_user_namespace
        from distill.fs.lock import locked

        if in_user_namespace():
            from distill.build.runtime.router import router

            taken = routed_prefixes(read_bytes("/proc/net/route").decode())
            free = [p for p in SUBNETS if p not in taken]
            if len(free) < 2:
                raise DistillError("no two free private subnets for the router and its bridge: the machine routes "
                                   + ", ".join(f"{p}.0/24" for p in taken))
            _machine = router(ports, free[-1]).netns
            lock = os.path.join(os.path.dirname(_machine), "network.lock")
        else:
            lock = LOCK
            os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        with locked(lock):
            prefix = _bridge_prefix()
            if prefix is None:
                prefix = subnet(_in(_machine, ["cat", "/proc/net/route"]).stdout)
                _ip("link", "del", BRIDGE)  # one left without its address
                _require(_ip("-batch", "-", stdin=f"link add {BRIDGE} type bridge\n"
                                                  f"addr add {prefix}.1/24 dev {BRIDGE}\n"
                                                  f"link set {BRIDGE} up\n"), f"make the bridge {BRIDGE}")
            script = nft_script(prefix)
            if _machine is not None or not _rules_in_place(script):
                _require(_in(_machine, ["nft", "-f", "-"], script), "set the private network's nftables rules")
                if _machine is None:
                    write_file(RULES, script.encode(), durable=False)
            if _machine is None:
                _accept_past_a_drop_policy()
            r = _in(_machine, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
            if r.returncode != 0 and "Read-only" in r.stderr:
                raise DistillError("the private network cannot forward: /proc/sys is read-only here (a container's); "
                                   "choose --network host (the container's own network) or --network none")
            _require(r, "forward the private network's traffic")
        _made = prefix
        return prefix


def _rules_in_place(script: str) -> bool:
    """The table this script makes is there, made by it: the script is what the machine's
    last build applied (RULES, on /run: gone at a restart, as the rules are) and the table
    exists (a flushed ruleset takes it away). Replacing it costs an nft run that reads the
    whole ruleset (~18 ms, a step's wait); looking costs one that reads only it."""
    try:
        if read_text(RULES) != script:
            return False
    except OSError:
        return False
    return subprocess.run(["nft", "list", "table", "ip", TABLE], capture_output=True).returncode == 0


def machine_netns() -> str | None:
    """The machine side's network namespace when it is a router, else None."""
    return _machine


def machine_nameservers() -> list[str] | None:
    """The resolvers a container reaches when the machine side is a router: pasta's
    forwarder (None when it is the machine itself)."""
    if _machine is None:
        return None
    from distill.build.runtime.router import router

    return [router().nameserver]


def _accept_past_a_drop_policy() -> None:
    """A packet must pass every table's forward chain: where iptables' FORWARD drops by
    default (docker sets that), the bridge's traffic is let through there too."""
    r = subprocess.run(["nft", "list", "chain", "ip", "filter", "FORWARD"], capture_output=True, text=True)
    if r.returncode != 0 or "policy drop" not in r.stdout:
        return
    for rule in (f'iifname "{BRIDGE}" accept', f'oifname "{BRIDGE}" ct state established,related accept'):
        if rule not in r.stdout:
            subprocess.run(["nft", "insert", "rule", "ip", "filter", "FORWARD", *rule.split()],
                           capture_output=True)


def attach(netns: str, prefix: str, attempts: int = 64) -> str:
    """Gives the namespace at `netns` an eth0 on the bridge with an address of its own, a
    default route through the bridge and loopback up; returns the address."""
    taken = ""
    for _ in range(attempts):
        address = f"{prefix}.{random.randint(2, 254)}"
        host = veth_name(address)
        r = _ip("-batch", "-", stdin=f"link add {host} type veth peer name eth0 netns {netns}\n"
                                      f"link set {host} master {BRIDGE}\n"
                                      f"link set dev {host} type bridge_slave isolated on\n"
                                      f"link set {host} up\n")
        if r.returncode != 0 and "exists" in r.stderr:
            taken = r.stderr
            continue
        _require(r, "attach the container to the bridge")
        _require(_ip("-batch", "-", netns=netns, stdin=f"addr add {address}/24 dev eth0\n"
                                                       f"link set eth0 up\nlink set lo up\n"
                                                       f"route add default via {prefix}.1\n"),
                 "configure the container's network")
        return address
    raise DistillError(f"no free address on the bridge {BRIDGE}: {taken.strip()}")
