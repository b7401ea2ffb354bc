"""Several `distill build` processes on one store at once — the same base, the same and
different contexts, the same tag — all succeed and give the images serial builds give
(SOURCE_DATE_EPOCH set, so an image depends only on its inputs); the store stays sound."""

import os
import subprocess
import sys

from bed.images import copy_image
from buildtools import BUSYBOX, write_context
from clirun import distill
from distill.image.store.images import lookup
from distill.image.store import Store

EPOCH = "1700000000"


def dockerfile(n: int) -> str:
    return (f"FROM {BUSYBOX} AS build\nCOPY input /input\n"
            f"RUN mkdir /out && sed 's/^/{n}:/' /input > /out/result && head -c {20000 * (n + 1)} /dev/zero > /out/pad\n"
            f"FROM {BUSYBOX}\nCOPY --from=build /out /out\nRUN wc -c /out/result > /size\n")


def contexts(tmp_path) -> list:
    return [write_context(tmp_path / f"ctx{n}", {"Dockerfile": dockerfile(n), "input": f"context {n}\n" * (n + 1)})
            for n in range(4)]


def test_eight_builds_at_once_give_what_serial_builds_give(busybox_store, tmp_path):
    ctxs = contexts(tmp_path)
    serial, together = Store(tmp_path / "serial"), Store(tmp_path / "together")
    for s in (serial, together):
        copy_image(busybox_store, s, BUSYBOX)
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    expected = []
    for n, ctx in enumerate(ctxs):
        distill("build", "-q", "-t", f"serial:{n}", ctx, root=serial.root, env=env)
        expected.append(lookup(serial, f"serial:{n}").config_digest)
    # each context twice; the two builds of context 0 name the same tag
    jobs = [(n % 4, "shared:tag" if n in (0, 4) else f"img:{n}") for n in range(8)]
    procs = [subprocess.Popen([sys.executable, "-m", "distill", "build", "-q", "--iidfile", tmp_path / f"iid{i}",
                               "-t", tag, ctxs[n]], env=dict(os.environ, DISTILL_ROOT=str(together.root), **env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i, (n, tag) in enumerate(jobs)]
    errors = [(p.wait(), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in errors), errors
    for i, (n, tag) in enumerate(jobs):
        assert (tmp_path / f"iid{i}").read_text().strip() == expected[n]
        assert lookup(together, tag).config_digest == expected[n]
    assert distill("fsck", root=together.root).returncode == 0
    assert os.listdir(together.tmp_dir) == []
