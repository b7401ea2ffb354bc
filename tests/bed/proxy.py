"""A fault-injecting HTTP proxy in front of the real registry: 503s, dropped connections,
corrupted blobs and redirects to another host, to test what a client does about them."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FaultyProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.fail_503 = 0           # answer this many next requests with 503
        self.drop = 0               # close this many next connections without answering
        self.corrupt_blobs = False  # flip a byte in every blob GET body
        self.redirect_blobs_to: str | None = None  # 307 blob GETs to this base URL
        self.seen: list[tuple[str, str, str | None]] = []  # method, path, Authorization
        self.canned: dict[str, tuple[int, dict, bytes]] = {}  # path suffix → (status, headers, body)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _handle(self):
                with proxy._lock:
                    proxy.seen.append((self.command, self.path, self.headers.get("Authorization")))
                    fail, drop = proxy.fail_503 > 0, proxy.drop > 0 and proxy.fail_503 == 0
                    if fail:
                        proxy.fail_503 -= 1
                    elif drop:
                        proxy.drop -= 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                for suffix, (status, headers, canned) in proxy.canned.items():
                    if self.path.split("?")[0].endswith(suffix):
                        self.send_response(status)
                        for k, v in headers.items():
                            self.send_header(k, v)
                        self.send_header("Content-Length", str(len(canned)))
                        self.end_headers()
                        if self.command != "HEAD":
                            self.wfile.write(canned)
                        return
                is_blob_get = self.command == "GET" and "/blobs/sha256:" in self.path
                if is_blob_get and proxy.redirect_blobs_to:
                    self.send_response(307)
                    self.send_header("Location", proxy.redirect_blobs_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                r = httpx.request(self.command, proxy.upstream + self.path, headers=headers, content=body,
                                  follow_redirects=True)
                data = r.content
                if is_blob_get and proxy.corrupt_blobs and data:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
