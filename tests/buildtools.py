"""Build a Dockerfile in a test and look at the result: its files and its config."""

from __future__ import annotations

import os
from pathlib import Path

from distill import api
from distill.build.outputs import export_local
from distill.build.solver.options import BuildOptions

BUSYBOX = "localhost/busybox:test"


def write_context(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


def build(store, context: Path | None, dockerfile: str, tags=(), outputs=(), **kw):
    """api.build, and a check that imagefs reads the image it made as unpacking does."""
    opts = BuildOptions(dockerfile.encode(), str(context / "Dockerfile") if context else "Dockerfile", context, **kw)
    result = api.build(store, opts, list(tags), list(outputs))
    import tempfile

    from imagetools import assert_view_is_unpack

    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as work:
        assert_view_is_unpack(store, result[2], Path(work) / "unpacked")
    return result


def tree(store, image, dest: Path) -> Path:
    export_local(store, image, dest)
    return dest


def listing(root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def steps(stderr: str) -> tuple[list[str], list[str]]:
    """Titles of the steps that ran and of those that were cached."""
    titles, ran, cached = {}, [], []
    for line in stderr.splitlines():
        parts = line.split(" ", 1)
        if len(parts) < 2 or not parts[0].startswith("#") or parts[0] == "#0":
            continue
        n, rest = parts
        if n not in titles:
            titles[n] = rest
        elif rest.startswith("DONE"):
            ran.append(titles[n])
        elif rest == "CACHED":
            cached.append(titles[n])
    return ran, cached
