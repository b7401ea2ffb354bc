"""Debian's docker-registry, started on a free loopback port (plain or token-auth)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

BINARY = "docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryProcess:
    def __init__(self, workdir: Path, token: dict | None = None):
        if not shutil.which(BINARY):
            raise RuntimeError("docker-registry is not installed: run the README's test setup")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = [
            "version: 0.1",
            "log:",
            "  level: error",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {workdir / 'data'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.host}",
        ]
        if token:
            config += [
                "auth:",
                "  token:",
                f"    realm: {token['realm']}",
                f"    service: {token['service']}",
                f"    issuer: {token['issuer']}",
                f"    rootcertbundle: {token['rootcertbundle']}",
            ]
        (workdir / "config.yml").write_text("\n".join(config) + "\n")
        self.log = open(workdir / "registry.log", "wb")
        self.proc = subprocess.Popen([BINARY, "serve", str(workdir / "config.yml")], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                httpx.get(f"http://{self.host}/v2/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start in 20 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
