"""The machine's network as the sandbox tests and bench/sandbox.py see it: its addresses,
servers that record who reached them, listening sockets that count connections, ports
nothing listens on."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading


def machine_address() -> str:
    """This machine's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))
        address = s.getsockname()[0]
    assert not address.startswith("127."), "the machine has no address outside loopback"
    return address


def machine_addresses() -> set[str]:
    """Every address of every interface of this machine (its own, loopback, the bridge's)."""
    links = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout)
    return {a["local"] for link in links for a in link.get("addr_info", [])}


class Server:
    """An HTTP server on `address` answering `marker` to every GET; `peers` are the
    addresses its requests came from."""

    def __init__(self, address: str, marker: str):
        body = marker.encode()
        self.peers = peers = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                peers.append(self.client_address[0])
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


class Listener:
    """A TCP socket listening on `address` (IPv4 or IPv6), counting the connections it accepts."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()


def closed_port() -> int:
    """A port nothing on the machine listens on, for IPv4 and IPv6."""
    while True:
        port = free_port()
        if port not in listening():
            return port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def listening() -> set[int]:
    """The TCP ports something listens on, from the kernel's tables."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                fields = row.split()
                if fields[3] == "0A":  # LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def answer(url: str, timeout: float = 20) -> str:
    """The body `url` answers with once it does (a server still starting is waited for)."""
    import time
    import urllib.request

    deadline = time.time() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
