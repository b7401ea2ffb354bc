"""Runs the real `distill` command line in a subprocess."""

import os
import subprocess
import sys


def distill(*args, root=None, check=True, input=None, env=None, text=True, cwd=None):
    e = dict(os.environ, **(env or {}))
    if root is not None:
        e["DISTILL_ROOT"] = str(root)
    r = subprocess.run([sys.executable, "-m", "distill", *map(str, args)], capture_output=True, text=text,
                       env=e, input=input, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError(f"distill {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r
