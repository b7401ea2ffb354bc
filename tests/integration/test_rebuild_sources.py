"""An edit rebuild reads nothing of an unchanged COPY --from source: its key comes from the
layers that hold it (build/solver/layered_key.py). What the build writes is watched from
outside, with strace: every file or directory made under the store's tmp/."""

import re
import subprocess
import sys

import pytest

from bed.images import copy_image
from buildtools import BUSYBOX, steps, tree, write_context
from clirun import distill
from distill.image.store.images import lookup

DOCKERFILE = f"""FROM {BUSYBOX} AS builder
RUN mkdir -p /venv/lib && for i in $(seq 1 300); do echo "value = $i" > /venv/lib/m$i.py; done
WORKDIR /app
COPY . .

FROM {BUSYBOX}
COPY --from=builder /venv /venv
COPY --from=builder /app /app
"""


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


_MADE = re.compile(r'(?:openat|open|creat|mkdirat|mkdir|mknodat|symlinkat|linkat)\((?:(?:AT_FDCWD|\d+<([^>]*)>), )?"([^"]*)"'
                   r'(.*)')


def made_under(log: str, top: str) -> list[str]:
    """The paths under `top` the traced processes created (O_CREAT opens, directories,
    nodes, links), from `strace -y` output: a path relative to a descriptor is joined to
    the descriptor's path."""
    out = []
    for line in log.splitlines():
        m = _MADE.search(line)
        if not m or ("open" in line.split("(", 1)[0] and "O_CREAT" not in m.group(3)) or " = -1 " in line:
            continue
        base, name = m.group(1), m.group(2)
        path = name if name.startswith("/") or not base else f"{base}/{name}"
        if path.startswith(top + "/"):
            out.append(path)
    return out


def test_an_edit_rebuild_extracts_nothing_of_an_unchanged_cross_stage_source(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": DOCKERFILE, "app.py": "print('one')\n"})
    distill("build", "-t", "localhost/shape:1", ctx, root=store.root)
    (ctx / "app.py").write_text("print('two')\n")
    log = tmp_path / "strace.log"
    r = subprocess.run(["strace", "-f", "-y", "-qq", "-o", log, "-e", "trace=openat,open,creat,mkdirat,mkdir,mknodat,"
                        "symlinkat,linkat", sys.executable, "-m", "distill", "build", "-t", "localhost/shape:2", ctx],
                       capture_output=True, text=True, env={"DISTILL_ROOT": str(store.root), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    made = made_under(log.read_text(errors="replace"), str(store.tmp_dir))
    assert [p for p in made if "/venv" in p] == [], "the unchanged /venv was written out to be keyed"
    ran, cached = steps(r.stderr)
    assert any("COPY --from=builder /venv /venv" in t for t in cached), r.stderr
    assert any("COPY --from=builder /app /app" in t for t in ran), r.stderr
    out = tree(store, lookup(store, "localhost/shape:2"), tmp_path / "out")
    assert len(list((out / "venv" / "lib").iterdir())) == 300
    assert (out / "app" / "app.py").read_text() == "print('two')\n"


def test_a_changed_cross_stage_source_is_copied_again(store, tmp_path):
    """The key follows the layers: a builder step that rewrites one file of /venv makes the
    final stage's copy run again, with the new content."""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": DOCKERFILE, "app.py": "print('one')\n"})
    distill("build", "-t", "localhost/shape:1", ctx, root=store.root)
    changed = DOCKERFILE.replace("COPY . .", "COPY . .\nRUN echo changed > /venv/lib/m7.py")
    (ctx / "Dockerfile").write_text(changed)
    r = distill("build", "-t", "localhost/shape:2", ctx, root=store.root)
    ran, _ = steps(r.stderr)
    assert any("COPY --from=builder /venv /venv" in t for t in ran), r.stderr
    out = tree(store, lookup(store, "localhost/shape:2"), tmp_path / "out")
    assert (out / "venv" / "lib" / "m7.py").read_text() == "changed\n"
    assert (out / "venv" / "lib" / "m8.py").read_text() == "value = 8\n"
