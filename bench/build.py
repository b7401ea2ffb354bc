#!/usr/bin/env python3
"""Build benchmarks, side by side with BuildKit (`docker build`, when a docker engine
answers) and Buildah (when installed). Prints medians and the ratio to BuildKit.

Scenarios: the Flask example cold, no-op and after an app.py edit; three independent
2-second stages; a 20,000-file, 280 MB context, no-op and after a one-file edit; the
Dockerfile shapes of bench/shapes.py, each cold, no-op, after an edit of one app file and
after an edit of the dependency list.
"distill-user" is distill run by a user other than root (bench/users: made here, its
store in its home, the same bases loaded), beside root's distill in the same run.

    .venv/bin/python bench/build.py [--runs 3] [--only flask,parallel,context,shapes]

Peers get the very base images distill uses (saved as docker archives and loaded), so
nothing is fetched from Docker Hub. Install peers with `apt-get install docker.io buildah`;
where no docker engine answers, BuildKit runs in a dockerd of the benchmark's own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from commands import DISTILL, DOCKER  # noqa: E402

from bed.images import DEMO_BASES, busybox_image, cached_base  # noqa: E402
from distill.image.store import Store  # noqa: E402

BUSYBOX = "localhost/busybox:test"


def sh(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def timed(cmd, **kw) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {r.stderr.decode()[-800:]}")
    return time.perf_counter() - t


class Tool:
    name = ""
    command: list[str] = []   # the build command before its flags
    env: dict | None = None

    def available(self) -> bool:
        raise NotImplementedError

    def load(self, archive: Path) -> None:
        raise NotImplementedError

    def build(self, ctx: Path, dockerfile: Path | None = None, no_cache: bool = False) -> float:
        cmd = list(self.command)
        if dockerfile:
            cmd += ["-f", str(dockerfile)]
        if no_cache:
            cmd.append("--no-cache")
        return timed(cmd + [str(ctx)], env=self.env)


class Distill(Tool):
    name = "distill"
    command = [DISTILL, "build", "-q"]

    def __init__(self, root: Path):
        self.env = dict(os.environ, DISTILL_ROOT=str(root))
        # as installed: modules load from cached bytecode, not compiled on every start
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def available(self) -> bool:
        return True

    def load(self, archive: Path) -> None:
        pass  # the store already holds the bases


class DistillAsUser(Tool):
    """distill as a user other than root: its own user namespace, store and network."""
    name = "distill-user"

    def __init__(self, user_name: str = "distill-bench"):
        from bed.users import ensure_user

        self.user = ensure_user(user_name, subordinate=True)
        # an empty store, as root's in a new work directory
        shutil.rmtree(Path(self.user.pw_dir) / ".local/share/distill", ignore_errors=True)

    @property
    def command(self) -> list[str]:
        from bed.users import command_as

        return command_as(self.user, "build", "-q", program=[DISTILL])

    def available(self) -> bool:
        return os.geteuid() == 0 and shutil.which("setpriv") is not None

    def load(self, archive: Path) -> None:
        from bed.users import command_as

        sh(command_as(self.user, "load", "-i", str(archive), program=[DISTILL]))


class DistillInDocker(Tool):
    """distill's image under docker: with seccomp and apparmor unconfined and nothing
    else (runc in a user namespace), or with docker's defaults (`chroot`: RUN chrooted).
    One container per tool, each build a `docker exec` in it, as a CI job's steps run in
    the job's container (GitHub Actions' container jobs exec each step)."""
    name = "distill-docker"

    def __init__(self, work: Path, store: Store, chroot: bool = False):
        options = [] if chroot else ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"]
        self.name = "docker-chroot" if chroot else "distill-docker"
        from bed.docker import Docker

        self.work = work
        env = dict(os.environ, DISTILL_ROOT=str(store.root))
        packages = (REPO / "scripts" / "image-packages.txt").read_text().split()
        cached_base(store, "localhost/debian/distill-run:bookworm", packages)
        sh(["bash", "scripts/image.sh", "distill:bench"], cwd=REPO, env=env)
        (work / self.name).mkdir(exist_ok=True)
        self.engine = Docker(work / self.name)
        sh([DISTILL, "save", "distill:bench", "-o", str(work / "distill-bench.tar"), "--format", "docker"], env=env)
        self.engine.client("load", "-i", work / "distill-bench.tar")
        self.store = work / f"{self.name}-store"
        shutil.rmtree(self.store, ignore_errors=True)
        self.store.mkdir()
        self.docker = ["docker", "-H", f"unix://{self.engine.sock}"]
        self.container = subprocess.run(
            self.docker + ["run", "-d", "--rm", "--network", "host", *options, "-v", f"{self.work}:{self.work}",
                           "-v", f"{self.store}:/var/lib/distill", "--entrypoint", "python3", "distill:bench", "-c",
                           "import time; time.sleep(1e9)"], check=True, capture_output=True, text=True).stdout.strip()

    @property
    def command(self) -> list[str]:
        return self.docker + ["exec", self.container, "distill", "build", "-q"]

    def available(self) -> bool:
        return True

    def load(self, archive: Path) -> None:
        sh(self.command[:-2] + ["load", "-i", str(archive)])

    def stop(self) -> None:
        subprocess.run(self.docker + ["rm", "-f", self.container], capture_output=True)
        self.engine.stop()


class BuildKit(Tool):
    name = "buildkit"
    command = [DOCKER, "build", "-q"]
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    engine = None

    def available(self) -> bool:
        return shutil.which(DOCKER) is not None and subprocess.run(
            [DOCKER, "info"], capture_output=True, env=self.env).returncode == 0

    def start(self, work: Path) -> None:
        """A dockerd of the benchmark's own when none answers (bench/cold.py's, on an empty
        data root of its own)."""
        if self.available() or not shutil.which("dockerd"):
            return
        from cold import Dockerd

        self.engine = Dockerd(Path(tempfile.mkdtemp(prefix="dockerd-", dir=work)) / "engine")
        self.env = dict(self.env, DOCKER_HOST=self.engine.sock)
        self.command = self.command + ["--network", "host"]  # an engine without a bridge, as bench/cold.py's

    def load(self, archive):
        sh([DOCKER, "load", "-i", str(archive)], env=self.env)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()



class Buildah(Tool):
    name = "buildah"
    command = ["buildah", "build", "-q", "--layers", "--isolation", "chroot"]

    def available(self) -> bool:
        return shutil.which("buildah") is not None

    def load(self, archive):
        sh(["buildah", "pull", "-q", f"docker-archive:{archive}"])


def median(f, runs: int) -> float:
    return statistics.median(f() for _ in range(runs))


def flask(tool: Tool, work: Path, runs: int) -> dict[str, float]:
    ctx = work / f"flask-{tool.name}"
    if not ctx.exists():
        shutil.copytree(work / "flask", ctx)
    app = ctx / "app.py"
    original = app.read_text()
    cold = median(lambda: tool.build(ctx, no_cache=True), runs)
    tool.build(ctx)
    noop = median(lambda: tool.build(ctx), runs)
    edits = []
    for i in range(runs):
        app.write_text(original.replace("Hello, World!", f"Hello {i} {time.time()}"))
        edits.append(tool.build(ctx))
    app.write_text(original)
    out = {"flask cold": cold, "flask no-op": noop, "flask app.py edit": statistics.median(edits)}
    if isinstance(tool, DistillInDocker):  # what entering the container costs any command
        out["docker exec python3 -c pass"] = median(lambda: timed(tool.docker + ["exec", tool.container, "python3",
                                                                                  "-c", "pass"]), runs)
    return out


def parallel(tool: Tool, work: Path, runs: int) -> dict[str, float]:
    ctx = work / "parallel"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text("".join(
        f"FROM {BUSYBOX} AS s{i}\nRUN sleep 2 && echo {i} > /out{i}\n" for i in range(3)) +
        f"FROM {BUSYBOX}\n" + "".join(f"COPY --from=s{i} /out{i} /\n" for i in range(3)))
    return {"3 parallel 2 s stages": median(lambda: tool.build(ctx, no_cache=True), runs)}


def big_context(tool: Tool, work: Path, runs: int) -> dict[str, float]:
    ctx = work / "bigctx"
    if not ctx.exists():
        rnd = os.urandom(1 << 20)
        for i in range(20_000):
            d = ctx / f"d{i // 500:02d}"
            d.mkdir(parents=True, exist_ok=True)
            off = (i * 7919) % ((1 << 20) - 14_000)
            (d / f"f{i:05d}.bin").write_bytes(rnd[off:off + 14_000])
        (ctx / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY . /ctx/\nRUN true\n")
    tool.build(ctx)
    noop = median(lambda: tool.build(ctx), runs)
    edits = []
    target = ctx / "d00" / "f00000.bin"
    for i in range(runs):
        target.write_bytes(os.urandom(14_000))
        edits.append(tool.build(ctx))
    return {"280 MB context no-op": noop, "280 MB context one-file edit": statistics.median(edits)}


def shapes(tool: Tool, work: Path, runs: int) -> dict[str, float]:
    from shapes import NAMES, make

    out = {}
    for name in NAMES:
        ctx = work / f"shape-{name}-{tool.name}"
        if ctx.exists():
            shutil.rmtree(ctx)
        app, deps = make(name, ctx, work / "flask")
        out[f"{name} cold"] = median(lambda: tool.build(ctx, no_cache=True), runs)
        tool.build(ctx)
        out[f"{name} no-op"] = median(lambda: tool.build(ctx), runs)
        for label, path, comment in (("app edit", app, "//" if app.suffix == ".c" else "#"), ("deps edit", deps, "#")):
            original, times = path.read_text(), []
            for i in range(runs):
                path.write_text(f"{original}{comment} edit {i} {time.time()}\n")
                times.append(tool.build(ctx))
            out[f"{name} {label}"] = statistics.median(times)
    return out


SCENARIOS = {"flask": flask, "parallel": parallel, "context": big_context, "shapes": shapes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="flask,parallel,context")
    ap.add_argument("--tools", default="distill,distill-user,buildkit,buildah", help="which of them to measure")
    ap.add_argument("--work", help="keep the work directory here (reused between runs)")
    ap.add_argument("--docker", action="store_true", help="also distill's own image under docker (distill-docker)")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="distill-bench-build-"))
    work.mkdir(parents=True, exist_ok=True)
    store = Store(work / "store")
    busybox_image(store, BUSYBOX, work)
    chosen = args.only.split(",")
    if "flask" in chosen or "shapes" in chosen:
        for name, packages in DEMO_BASES.items():
            cached_base(store, name, packages)
        if not (work / "flask").exists():
            shutil.copytree(REPO / "examples" / "flask", work / "flask",
                            ignore=shutil.ignore_patterns("wheels", "__pycache__"))
            sh([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--platform",
                "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                "-d", str(work / "flask" / "wheels"), "-r", str(work / "flask" / "requirements.txt")])
    buildkit = BuildKit()
    if "buildkit" in args.tools.split(","):
        buildkit.start(work)
    wanted = args.tools.split(",")
    tools = [t for t in (Distill(store.root), DistillAsUser() if "distill-user" in wanted else None, buildkit,
                         Buildah()) if t is not None and t.name in wanted and t.available()]
    if any(isinstance(t, DistillAsUser) for t in tools):
        from bed.users import reachable_by_all

        reachable_by_all(work)
        subprocess.run(["chmod", "-R", "o+rX", str(work)], check=True)
    if args.docker:  # after the chmod: their engines' mounts are in the work directory
        tools[2:2] = [DistillInDocker(work, store), DistillInDocker(work, store, chroot=True)]
    archives = []
    env = dict(os.environ, DISTILL_ROOT=str(store.root))
    for ref in [BUSYBOX] + (list(DEMO_BASES) if "flask" in chosen or "shapes" in chosen else []):
        out = work / (ref.replace("/", "_").replace(":", "_") + ".tar")
        if not out.exists():
            sh([sys.executable, "-m", "distill", "save", ref, "-o", str(out)], env=env)
        archives.append(out)
    for t in tools[1:]:
        for a in archives:
            t.load(a)
    results: dict[str, dict[str, float]] = {}
    try:
        _measure(chosen, tools, work, args.runs, results)
    finally:
        for t in tools:
            if isinstance(t, (DistillInDocker, BuildKit)):
                t.stop()
    names = [t.name for t in tools]
    print(f"{'scenario':<32}" + "".join(f"{n:>16}" for n in names) + ("   distill/buildkit" if "buildkit" in names else ""))
    for scenario, row in results.items():
        line = f"{scenario:<32}" + "".join(f"{row.get(n, float('nan')):>15.2f}s" for n in names)
        if "buildkit" in row:
            line += f"   {row['distill'] / row['buildkit']:.2f}"
        print(line)
    if "buildkit" not in names:
        print("(BuildKit not measured: no docker engine answers; Buildah " +
              ("measured)" if "buildah" in names else "not installed)"))


def _measure(chosen: list[str], tools: list[Tool], work: Path, runs: int, results: dict) -> None:
    for name in chosen:
        for t in tools:
            for scenario, seconds in SCENARIOS[name](t, work, runs).items():
                results.setdefault(scenario, {})[t.name] = seconds
                print(f"  {t.name}: {scenario} {seconds:.2f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
