"""A docker engine of the tests' own (Debian's docker.io): dockerd on a socket, data and
state directories of its own, no bridge and no iptables rules (containers use the host
network), stopped when done. The peer distill's image runs under, with docker's defaults."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


# what rootless BuildKit asks of docker, and all distill's image is given: no --privileged,
# no added capability (docs/ci/ recipes say the same)
UNCONFINED = ("--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined")


class Docker:
    def __init__(self, work: Path):
        if not shutil.which("dockerd"):
            raise RuntimeError("dockerd is not installed: run the README's test setup (docker.io)")
        self.work = work
        self.sock = work / "docker.sock"
        self.log = open(work / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(work / "data"), "--exec-root", str(work / "exec"),
             "--pidfile", str(work / "dockerd.pid"), "-H", f"unix://{self.sock}", "--iptables=false",
             "--bridge=none", "--ip-masq=false"], stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.time() + 60
        while self.client("info", check=False).returncode != 0:
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("dockerd did not start: " + (work / "dockerd.log").read_text()[-2000:])
            time.sleep(0.2)

    def client(self, *args, check: bool = True, **kw) -> subprocess.CompletedProcess:
        r = subprocess.run(["docker", "-H", f"unix://{self.sock}", *map(str, args)], capture_output=True, text=True,
                           **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
        return r

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        # what the engine left mounted under its directories (its default network
        # namespace's file, overlays), deepest first, so the directories can go
        prefix = os.path.realpath(self.work) + "/"
        with open("/proc/self/mountinfo") as f:
            points = [row.split()[4] for row in f if row.split()[4].startswith(prefix)]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
