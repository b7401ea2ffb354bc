#!/usr/bin/env python3
"""The sandbox side by side with docker's: the same probes (tests/bed/probe.c: system
calls, capabilities, masked paths, devices; tests/bed/netprobe.c: TCP SYNs forged with
CAP_NET_RAW for the machine's loopback and the gateway) in a distill RUN step, `distill
run`, a BuildKit RUN step (docker build) and `docker run`, and the source address the
machine sees for a connection from each to its own address. Prints one row per probe.

docker is Debian's docker.io (`apt-get install docker.io`), a dockerd of its own started
here with its default bridge and iptables rules, stopped at the end.

    .venv/bin/python bench/sandbox.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from commands import DISTILL, DOCKER, DOCKERD  # noqa: E402

from bed.images import busybox_image  # noqa: E402
from bed.programs import static_program  # noqa: E402
from bed.net import Listener, Server, closed_port, machine_address, machine_addresses  # noqa: E402
from distill.image.store import Store  # noqa: E402

IMAGE = "localhost/sandbox-probe:bench"


def sh(*cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def pairs(text: str) -> dict:
    return dict(l.split("=", 1) for l in text.splitlines() if "=" in l and " " not in l.split("=", 1)[0])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="sb-", dir="/var/tmp"))
    ctx = work / "ctx"
    ctx.mkdir()
    for name in ("probe", "netprobe"):
        static_program(name, ctx)
    store = work / "store"
    busybox_image(Store(store), "localhost/busybox:bench", work)
    v4, v6, everywhere = Listener("127.0.0.1"), Listener("::1"), Listener("0.0.0.0")
    peers = Server(machine_address(), "ok")
    closed = closed_port()
    targets = [f"127.0.0.1:{v4.port}", f"127.0.0.1:{closed}", f"[::1]:{v6.port}", f"[::1]:{closed}",
               f"gw:{v4.port}", f"gw:{everywhere.port}"]
    script = f"/probe; /netprobe {' '.join(targets)}; wget -q -O /dev/null {peers.url} && echo fetched=ok"
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:bench\nCOPY probe netprobe /\n")
    (ctx / "Dockerfile.run").write_text(f"FROM {IMAGE}\nRUN {script}; echo {time.time()}\n")
    sh(DISTILL, "--root", store, "build", "-q", "-t", IMAGE, ctx, check=True)
    results: dict[str, dict] = {}
    r = sh(DISTILL, "--root", store, "build", "--progress", "plain", "-f", ctx / "Dockerfile.run", ctx)
    results["distill RUN"] = pairs("\n".join(l.split(" ", 2)[-1] for l in r.stderr.splitlines() if l.startswith("#")))
    results["distill run"] = pairs(sh(DISTILL, "--root", store, "run", IMAGE, "sh", "-c", script).stdout)
    seen = {"distill": list(peers.peers)}

    if os.path.exists(DOCKERD):
        sh(DISTILL, "--root", store, "save", IMAGE, "-o", work / "image.tar", check=True)
        root = work / "docker"
        root.mkdir()
        sock = f"unix://{root}/d.sock"
        daemon = subprocess.Popen([DOCKERD, "--data-root", root / "data", "--exec-root", root / "x", "--pidfile",
                                   root / "d.pid", "-H", sock], stdout=subprocess.DEVNULL,
                                  stderr=open(root / "log", "wb"))
        try:
            for _ in range(300):
                if sh(DOCKER, "-H", sock, "info").returncode == 0:
                    break
                time.sleep(0.1)
            sh(DOCKER, "-H", sock, "load", "-i", work / "image.tar", check=True)
            before = len(peers.peers)
            results["docker run"] = pairs(sh(DOCKER, "-H", sock, "run", "--rm", IMAGE, "sh", "-c", script).stdout)
            r = sh(DOCKER, "-H", sock, "build", "--progress", "plain", "--no-cache", "-f", ctx / "Dockerfile.run", ctx,
                   env=dict(os.environ, DOCKER_BUILDKIT="1"))
            if r.returncode != 0:
                print(f"docker build failed: {r.stderr[-600:]}", file=sys.stderr)
            results["BuildKit RUN"] = pairs("\n".join(l.split(" ", 2)[-1] for l in r.stderr.splitlines()
                                                      if l.startswith("#")))
            seen["docker"] = peers.peers[before:]
            version = sh(DOCKER, "-H", sock, "version", "--format", "{{.Server.Version}}").stdout.strip()
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    else:
        version = "not installed"

    columns = list(results)
    keys = [k for k in results["distill run"]]
    print(f"docker {version}; loopback servers accepted {v4.accepted} (127.0.0.1) and {v6.accepted} (::1) "
          "connections from forged frames")
    labels = {f"127.0.0.1:{v4.port}": "SYN 127.0.0.1 (listening)", f"127.0.0.1:{closed}": "SYN 127.0.0.1 (closed)",
              f"[::1]:{v6.port}": "SYN ::1 (listening)", f"[::1]:{closed}": "SYN ::1 (closed)",
              f"gw:{v4.port}": "SYN gateway, loopback server's port", f"gw:{everywhere.port}": "SYN gateway, 0.0.0.0 server"}
    print(f"{'probe':<38}" + "".join(f"{c:>18}" for c in columns))
    for k in keys:
        print(f"{labels.get(k, k):<38}" + "".join(f"{results[c].get(k, '-'):>18}" for c in columns))
    mine = machine_addresses()
    for who, addrs in seen.items():
        print(f"{who}: the machine saw connections from {sorted(set(addrs))}; "
              f"{'one of its own addresses' if set(addrs) & mine else 'none of its own addresses'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
