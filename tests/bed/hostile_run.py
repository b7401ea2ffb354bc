"""Runs `load` and every analyser command on each hostile archive (bed/hostile.py), on
the archive read in place and on the image loaded into a store, and says what went wrong:
a traceback, a run past its time, memory past its bound, an exit other than 0-2, an
error line longer than 300 characters. Used by tests/integration/test_hostile.py and
bench/hostile.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

DISTILL = str(Path(sys.executable).parent / "distill")
ERROR_MAX = 300
LOADED = re.compile(r"Loaded image: (\S+)")


@dataclass
class Run:
    case: str
    argv: list[str]
    code: int | None
    seconds: float
    rss: int  # bytes, the process's peak
    stderr: str
    raw: str = ""  # a control character printed as itself (a name's ESC or CR on the terminal)
    outside: list[str] = field(default_factory=list)  # names written outside the store and the output's

    def problems(self, time_limit: float, rss_limit: int) -> list[str]:
        what = f"{self.case}: distill {' '.join(self.argv)[:200]}"
        out = []
        if self.code is None:
            out.append(f"{what}: still running after {time_limit:.0f} s")
        elif self.code not in (0, 1, 2):
            out.append(f"{what}: exit {self.code}")
        if "Traceback (most recent call last)" in self.stderr:
            out.append(f"{what}: traceback: {self.stderr.strip().splitlines()[-1][:300]}")
        for line in self.stderr.splitlines():
            if line.startswith("distill: error:") and len(line) > ERROR_MAX:
                out.append(f"{what}: an error line of {len(line)} characters")
        if self.outside:
            out.append(f"{what}: wrote outside the store and its output: {', '.join(self.outside[:5])}")
        if self.raw:
            out.append(f"{what}: printed the control character {self.raw} as itself")
        if self.rss > rss_limit:
            out.append(f"{what}: {self.rss >> 20} MiB of memory")
        return out


def run(case: str, argv: list[str], root: Path, time_limit: float, cwd: Path, prefix: list[str] = ()) -> Run:
    """`distill ARGV` with its standard error kept (and load's output, which names what it
    stored, appended to it). Its peak memory is measured by /usr/bin/time, a small process
    between: Linux counts a child's memory before its exec (this process's) in its own."""
    start = time.monotonic()
    env = dict(os.environ, DISTILL_ROOT=str(root), HOME=str(cwd), TMPDIR=str(cwd), COLUMNS="100")
    p = subprocess.Popen(["/usr/bin/time", "-f", f"{RSS_MARK}%M", *prefix, DISTILL, *argv], env=env, cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=time_limit)
        code = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        code = None
    raw = _raw_control(out or b"") or _raw_control(err)
    if argv[0] != "load":
        out = b""
    text, rss = (out or b"").decode("utf-8", "replace") + err.decode("utf-8", "replace"), 0
    lines = text.splitlines()
    if lines and lines[-1].startswith(RSS_MARK):
        rss = int(lines.pop()[len(RSS_MARK):]) * 1024
    if code is not None and code != 0 and lines and lines[-1].startswith("Command exited with non-zero status"):
        lines.pop()
    return Run(case, argv, code, time.monotonic() - start, rss, "\n".join(lines)[-20_000:], raw)


def _raw_control(data: bytes) -> str:
    """The first control character other than a line's end or a tab in `data`, as text."""
    found = CONTROL.search(data)
    return repr(found.group()) if found else ""


CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")


RSS_MARK = "distill-peak-rss-kb:"


# system calls that write a name, and strace's line for one: pid, call, first argument
WRITES = ("open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,"
          "unlink,unlinkat,rmdir,chmod,fchmodat,chown,lchown,fchownat,truncate,utimensat,mknod,mknodat,setxattr,"
          "lsetxattr")
_CALL = re.compile(r'^\d+\s+(\w+)\((.*)\) += (-?\d+)')
_PATH = re.compile(r'(?:(AT_FDCWD|\d+)<([^>]*)>, )?"((?:[^"\\]|\\.)*)"')
# the owner locks of fs/owner.py are machine-wide by design (a container's maker is
# looked up from any store): the one place outside the store a process of distill writes
OWNER_LOCKS = ("/run/distill/owners/", "/tmp/distill-owners/")


def traced(work: Path) -> list[str]:
    """strace's prefix for a run whose writes are checked (log in `work`)."""
    return ["strace", "-f", "-qq", "-y", "-e", f"trace={WRITES}", "-o", str(work / "strace.log")]


def writes_outside(log: Path, allowed: list[Path]) -> list[str]:
    """The names written (created, changed or removed) that lie outside `allowed`, from an
    strace log of traced()'s."""
    roots = [os.path.realpath(a) for a in allowed]
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = _CALL.match(line)
        if not m or int(m[3]) < 0:
            continue
        call, args = m[1], m[2]
        if call.startswith(("open", "creat")) and call != "creat" and not re.search(r"O_(WRONLY|RDWR|CREAT|TRUNC)", args):
            continue
        for dirfd, base, name in _PATH.findall(args)[:2 if call.startswith(("rename", "link")) else 1]:
            path = name if name.startswith("/") else os.path.join(base or "/", name)
            path = os.path.normpath(path)
            if path in ("/dev/null", "/dev/tty") or path.startswith(OWNER_LOCKS) or path.endswith(".pyc"):
                continue
            if not any(path == r or path.startswith(r + "/") for r in roots):
                out.append(f"{call} {path}")
    return out


def commands(image: str, out: Path) -> list[list[str]]:
    """Every analyser command, as a user would run it on `image`."""
    return [
        ["ls", "-R", "--json", image, "/"],
        ["ls", "-l", image, "/"],
        ["export", "-o", str(out / "export.tar"), image],
        ["check", image],
        ["check", "--format", "json", image],
        ["size", image],
        ["compare", image, image],
        ["sbom", "--format", "json", image],
        ["sbom", "--format", "cyclonedx-json", image],
        ["report", "-o", str(out / "report.html"), image],
        ["scan", image],
    ]


@dataclass
class Outcome:
    runs: list[Run] = field(default_factory=list)

    def problems(self, time_limit: float, rss_limit: int) -> list[str]:
        return [p for r in self.runs for p in r.problems(time_limit, rss_limit)]


def in_place_name(case: str, archive: Path) -> str:
    return f"{'docker' if case.startswith('docker-') else 'oci'}-archive:{archive}"


def run_case(case: str, archive: Path, root: Path, work: Path, time_limit: float = 60.0,
             trace: bool = False) -> Outcome:
    """load, then each command on the archive in place and on what load stored; with
    `trace`, each under strace, and what it wrote outside the store and `work/CASE` (where
    the -o outputs go) named."""
    outcome = Outcome()
    cwd = work / case
    cwd.mkdir(parents=True, exist_ok=True)
    logs = work / f"{case}.strace"
    logs.mkdir(exist_ok=True)
    prefix = traced(logs) if trace else []

    def one(argv):
        r = run(case, argv, root, time_limit, cwd, prefix)
        if trace:
            r.outside = writes_outside(logs / "strace.log", [root, cwd])
        outcome.runs.append(r)
        return r

    loaded = one(["load", "-i", str(archive)])
    images = [in_place_name(case, archive)]
    if loaded.code == 0:
        found = LOADED.findall(loaded.stderr) or []
        images += found[:1]
    for image in images:
        for argv in commands(image, cwd):
            one(argv)
    return outcome


def run_corpus(archives: dict[str, Path], root: Path, work: Path, time_limit: float = 60.0, workers: int = 2,
               traced_cases: set[str] = frozenset()) -> dict[str, Outcome]:
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(run_case, name, path, root, work, time_limit, name in traced_cases)
                   for name, path in archives.items()}
        return {name: f.result() for name, f in futures.items()}
