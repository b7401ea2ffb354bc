"""The commands the benchmarks run: distill as users run it (the console script beside
this interpreter, not `python -m distill`, which adds runpy), and the peers' docker
client and daemon (Debian's docker.io client builds with its built-in BuildKit; newer
clients need buildx)."""

import os
import shutil
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
DISTILL = str(BIN / "distill") if (BIN / "distill").exists() else "distill"
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
