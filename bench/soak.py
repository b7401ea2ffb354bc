#!/usr/bin/env python3
"""Kill builds with SIGKILL at random moments, many times, and check what they leave.

Each round builds a two-stage Dockerfile whose RUN step runs every time (a build argument
changes), writes a 3 MB layer and is tagged; it is killed at a moment drawn uniformly
over a whole build's duration: during the base's pull (`--pull`, with a base in a
loopback registry), its unpack (every fourth round starts a new store), the RUN, the
layer commit, the tagging. After each kill nothing may be mounted under the store, and
within 2 s nothing may run that names it (the kernel ends the build's PID namespace);
runc's record of a killed RUN step's container stays until the next build removes it.
At the end: `distill prune`, then no mount, no container and no process may point into
any store, `distill fsck` must find each sound and a last build must succeed.

    .venv/bin/python bench/soak.py [--kills 50] [--seed N] [--user NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from bed.leftovers import leftovers  # noqa: E402

DOCKERFILE = """FROM {base} AS build
ARG ROUND
RUN echo $ROUND > /round && head -c 3000000 /dev/urandom > /blob && sleep 0.2
FROM {base}
COPY --from=build /round /round
"""


def command(root: Path, *args, user=None) -> list[str]:
    """distill on the store at `root`, as root or as `user` (a pwd entry: its own user
    namespace, its runc records in the store)."""
    if user is not None:
        from bed.users import command_as

        return command_as(user, "--root", root, *args)
    return [sys.executable, "-m", "distill", "--root", str(root), *map(str, args)]


def distill(root: Path, *args, check: bool = True, user=None) -> subprocess.CompletedProcess:
    r = subprocess.run(command(root, *args, user=user), capture_output=True, text=True,
                       cwd=user.pw_dir if user else None)
    if check and r.returncode != 0:
        raise RuntimeError(f"distill {' '.join(map(str, args))}: {r.stderr[-800:]}")
    return r


def soak(root: Path, work: Path, base: str, kills: int = 50, seed: int = 1, pull: bool = False, user=None) -> dict:
    """`kills` rounds on the store at `root` (and a new store every fourth round when
    `pull`: the base comes from its registry), as root or as `user` (its stores and
    `work` where it may write). Returns the figures."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    if user is not None:  # new stores are made there
        os.chown(work, user.pw_uid, user.pw_gid)
    ctx = work / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    extra = ["--pull"] if pull else []
    roots = [Path(root)]
    t = time.perf_counter()
    distill(roots[-1], "build", "-q", *extra, "--build-arg", "ROUND=first", "-t", "soak:first", ctx, user=user)
    span = time.perf_counter() - t
    mounts_after_kill, killed_with = 0, {"containers": 0, "processes": 0}
    for i in range(kills):
        if pull and i % 4 == 3:
            roots.append(work / f"store-{i}")
        records = set(leftovers(roots, user)["containers"])  # left before, not yet collected
        proc = subprocess.Popen(command(roots[-1], "build", "-q", *extra, "--build-arg", f"ROUND={i}", "-t",
                                        f"soak:{i}", ctx, user=user), cwd=user.pw_dir if user else None,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, span * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = leftovers(roots, user)
        settle = time.monotonic() + 2  # the kernel ends the namespace's processes just after
        while left["processes"] and time.monotonic() < settle:
            time.sleep(0.05)
            left = leftovers(roots, user)
        mounts_after_kill += len(left["mounts"])
        killed_with["containers"] += bool(set(left["containers"]) - records)
        killed_with["processes"] += bool(left["processes"])
    for r in roots:
        distill(r, "prune", user=user)
    final = leftovers(roots, user)
    fsck = max(distill(r, "fsck", check=False, user=user).returncode for r in roots)
    next_build = distill(roots[0], "build", "-q", *extra, "--build-arg", "ROUND=last", ctx, check=False,
                         user=user).returncode
    return {"kills": kills, "build_seconds": round(span, 2), "mounts_after_kill": mounts_after_kill,
            "kills_leaving_a_container": killed_with["containers"],
            "kills_leaving_a_process": killed_with["processes"], "final": final, "fsck": fsck,
            "next_build": next_build, "stores": len(roots)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--user", metavar="NAME", help="build as this user (made when missing, with subordinate "
                    "ids): rootless, the stores in its home")
    args = ap.parse_args()
    from bed.images import busybox_image
    from bed.registry import RegistryProcess
    from distill.image.store import Store

    work = Path(tempfile.mkdtemp(prefix="soak-", dir="/var/tmp"))
    registry = RegistryProcess(work / "registry")
    try:
        seed_store = Store(work / "seed")
        busybox_image(seed_store, "busybox:soak", work / "bb")
        base = f"{registry.host}/soak/busybox:1"
        distill(work / "seed", "push", "busybox:soak", base)
        user, place = None, work
        if args.user:
            from bed.users import ensure_user, reachable_by_all

            user = ensure_user(args.user, subordinate=True)
            reachable_by_all(Path(sys.executable).parent)
            place = Path(tempfile.mkdtemp(prefix="soak-", dir=user.pw_dir))
            os.chown(place, user.pw_uid, user.pw_gid)
        t = time.perf_counter()
        report = soak(place / "store", place / "soak", base, args.kills, args.seed, pull=True, user=user)
        report["seconds"] = round(time.perf_counter() - t, 1)
        print(json.dumps(report, indent=2))
    finally:
        registry.stop()
        subprocess.run(["rm", "-rf", str(work)] + ([str(place)] if args.user else []))


if __name__ == "__main__":
    main()
