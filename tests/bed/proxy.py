"""A fault-injecting HTTP proxy in front of the real registry: 503s, dropped connections,
corrupted and truncated blobs, slow answers, a 401 in the middle of a pull and redirects
to another host, to test what a client does about them."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FaultyProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.fail_503 = 0           # answer this many next requests with 503
        self.drop = 0               # close this many next connections without answering
        self.corrupt_blobs = False  # flip a byte in every blob GET body
        self.truncate_blobs = 0     # this many next blob GETs: all headers, half the body, then the connection closes
        self.slow = 0.0             # seconds to wait before each answer
        self.unauthorized = 0       # this many next blob GETs answered 401 (a token that expired mid-pull)
        self.challenge = ""         # the WWW-Authenticate header sent with them
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
                    blob_get = self.command == "GET" and "/blobs/sha256:" in self.path
                    truncate = blob_get and proxy.truncate_blobs > 0
                    if truncate:
                        proxy.truncate_blobs -= 1
                    deny = blob_get and not truncate and proxy.unauthorized > 0
                    if deny:
                        proxy.unauthorized -= 1
                if proxy.slow:
                    time.sleep(proxy.slow)
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
                if deny:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", proxy.challenge)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
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
                if truncate and r.status_code == 200:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
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
