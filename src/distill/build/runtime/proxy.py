"""Published ports (`distill run -p`) of a container on the bridge, served in user space as
docker-proxy serves them: a socket on the machine's port, each connection (TCP) or each
client (UDP) relayed to the container's address. User space, not DNAT rules, so that
127.0.0.1:PORT works without letting the machine route loopback traffic
(route_localnet), and nothing is left in the firewall when the container goes.

    python -m distill.build.runtime.proxy PIDFILE PROTO,HOST_IP,HOST_PORT,CONTAINER_IP,CONTAINER_PORT...

The PID file is written once every port is bound (the caller waits for it); then the
proxy gives up root (nobody, no groups, no capabilities): it only relays bytes."""

from __future__ import annotations

import os
import select
import socket
import sys
import threading

UDP_IDLE = 60.0  # a UDP client's relay socket is closed after this long without traffic
BUFFER = 65536
NOBODY = 65534


def parse(spec: str) -> tuple[str, str, int, str, int]:
    """PROTO,HOST_IP,HOST_PORT,CONTAINER_IP,CONTAINER_PORT (commas: IPv6 addresses hold colons)."""
    proto, host_ip, host_port, target_ip, target_port = spec.split(",")
    return proto, host_ip, int(host_port), target_ip, int(target_port)


def listen(proto: str, host_ip: str, port: int) -> socket.socket:
    """Every address of the machine when `host_ip` is empty (IPv4 and IPv6 where there is)."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in host_ip or (not host_ip and socket.has_ipv6) else socket.AF_INET
    try:
        s = socket.socket(family, kind)
    except OSError:
        family, s = socket.AF_INET, socket.socket(socket.AF_INET, kind)
    if family == socket.AF_INET6 and not host_ip:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
    if kind == socket.SOCK_STREAM:
        s.listen(128)
    return s


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(BUFFER):
            dst.sendall(data)
    except OSError:
        pass
    for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
        try:
            s.shutdown(how)
        except OSError:
            pass


def _serve_tcp(server: socket.socket, target: tuple[str, int]) -> None:
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue

        def relay(client=client, upstream=upstream):
            t = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            t.start()
            _pump(client, upstream)
            t.join()
            client.close()
            upstream.close()

        threading.Thread(target=relay, daemon=True).start()


def _serve_udp(server: socket.socket, target: tuple[str, int]) -> None:
    import time

    clients: dict[tuple, socket.socket] = {}
    seen: dict[tuple, float] = {}
    while True:
        by_socket = {s: addr for addr, s in clients.items()}
        ready, _, _ = select.select([server, *by_socket], [], [], UDP_IDLE / 4)
        now = time.monotonic()
        for s in ready:
            if s is server:
                data, addr = server.recvfrom(BUFFER)
                if addr not in clients:
                    clients[addr] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    clients[addr].connect(target)
                seen[addr] = now
                try:
                    clients[addr].send(data)
                except OSError:
                    pass
            else:
                addr = by_socket[s]
                try:
                    server.sendto(s.recv(BUFFER), addr)
                    seen[addr] = now
                except OSError:
                    pass
        for addr in [a for a, t in seen.items() if now - t > UDP_IDLE]:
            clients.pop(addr).close()
            del seen[addr]


def main(argv: list[str]) -> int:
    pid_file, specs = argv[0], argv[1:]
    served = []
    for spec in specs:
        proto, host_ip, host_port, target_ip, target_port = parse(spec)
        try:
            served.append((proto, listen(proto, host_ip, host_port), (target_ip, target_port)))
        except OSError as e:
            print(f"cannot publish {host_ip or '0.0.0.0'}:{host_port}/{proto}: {e.strerror}", file=sys.stderr)
            return 1
    with open(pid_file + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(pid_file + ".tmp", pid_file)
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    threads = [threading.Thread(target=_serve_udp if proto == "udp" else _serve_tcp, args=(s, target), daemon=True)
               for proto, s, target in served]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
