"""`distill check --run`: the image started under runc for a few seconds to confirm a
verdict the start check reached without running it."""

from __future__ import annotations

import sys


def try_start(store, text: str, seconds: float = 3) -> dict:
    """Starts the image under runc with no network for `seconds`, to confirm a verdict:
    {"started": still running then or exited 0, "exit_code": None while running,
    "stderr": its last lines}. The static verdict never depends on it."""
    import signal
    import subprocess

    cmd = [sys.executable, "-m", "distill", "--root", store.root, "run", "--network", "none", text]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        code = None
        proc.send_signal(signal.SIGINT)  # `distill run` stops and removes its container
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    tail = proc.stderr.read().decode("utf-8", "replace").splitlines()[-10:]
    proc.stderr.close()
    return {"started": code in (None, 0), "exit_code": code, "stderr": tail}
