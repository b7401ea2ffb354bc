"""Containers: run, ps, stop, logs, rm; binfmt (emulators to run other architectures' programs)."""

from __future__ import annotations

import sys

from distill.errors import DistillError
from distill.cli.commands import argparse, arg, command, repeatable, store_of


@command(
    arg("--rm", action="store_true", help="Remove the container's changes when it exits (always the case)."),
    arg("-i", "--interactive", action="store_true", help="Keep standard input attached."),
    arg("-t", "--tty", action="store_true", help="Give the process a terminal (this one must be a terminal)."),
    arg("-e", "--env", metavar="K=V", **repeatable("env")),
    arg("-w", "--workdir"),
    arg("-u", "--user"),
    arg("--entrypoint"),
    arg("--network", choices=["default", "bridge", "private", "host", "none"], default="default",
        help="default (also bridge, private): a network of its own on the machine's bridge (as docker's); "
             "host: the machine's; none: loopback only."),
    arg("-p", "--publish", metavar="[IP:][HOST:]CONTAINER[/PROTO]", help="Publish a container port on the machine.",
        **repeatable("publish")),
    arg("-P", "--publish-all", action="store_true", help="Publish every EXPOSEd port on a free port of the machine."),
    arg("-d", "--detach", action="store_true", help="Run in the background and print the container ID."),
    arg("--name", help="Container ID to use."),
    arg("-m", "--memory", metavar="SIZE", help="Memory limit (e.g. 512m, 2g), as the container's cgroup sets it."),
    arg("--pids-limit", type=int, default=0, help="How many processes the container may have (0: no limit)."),
    arg("--platform", help="os/arch[/variant] of an image of several (default: this machine's); another "
                           "architecture's runs under an emulator (distill binfmt)."),
    arg("image"),
    arg("command", nargs=argparse.REMAINDER, help="The command and its arguments (default: the image's)."),
)
def run(a):
    """Run a command in a new container from IMAGE (with runc)."""
    from distill.api import in_user_namespace, isolate, parse_size, published_ports
    from distill.api import run as do_run

    if not a.detach:  # a detached container's mount outlives this process, until `distill stop`
        isolate()
    elif in_user_namespace():
        raise DistillError("run -d needs root: a user other than root runs containers in the foreground "
                           "(their mounts live in its namespaces, which end with the command)")
    network = "private" if a.network in ("default", "bridge") else a.network
    ports = published_ports(store_of(a), a.image, a.publish, a.publish_all, network)
    for p in ports:
        print(f"published {p}", file=sys.stderr)
    try:
        memory = parse_size(a.memory) if a.memory else 0
    except ValueError:
        raise DistillError(f"invalid memory size {a.memory!r}: expected a number with an optional unit (512m, 2g)")
    result = do_run(store_of(a), a.image, a.command, a.env, a.workdir, a.user, a.entrypoint, network, a.detach,
                    a.interactive, a.name, a.tty, ports, memory, a.pids_limit, a.platform)
    if a.detach:
        print(result)
    else:
        sys.exit(result)


@command(arg("ids", nargs="+"), arg("-t", "--time", dest="timeout", type=float, default=10))
def stop(a):
    """Stop containers started with `distill run -d`."""
    from distill.api import stop as do_stop

    store = store_of(a)
    for cid in a.ids:
        do_stop(store, cid, a.timeout)
        print(cid)


@command(arg("cid"), arg("-f", "--follow", action="store_true", help="Go on printing what it writes until it stops."))
def logs(a):
    """Print the output of a detached container (kept after stop, until rm)."""
    from distill.api import logs as do_logs

    sys.stdout.buffer.write(do_logs(store_of(a), a.cid, a.follow, sys.stdout.buffer))


@command(arg("-a", "--all", action="store_true", help="Stopped containers too."),
         arg("-q", "--quiet", action="store_true", help="Only the IDs."))
def ps(a):
    """List the containers started with `distill run -d`."""
    import time

    from distill.api import ps as listing

    rows = listing(store_of(a), a.all)
    if a.quiet:
        for r in rows:
            print(r["id"])
        return
    print(f"{'CONTAINER ID':<14}{'IMAGE':<30}{'COMMAND':<28}{'CREATED':<16}STATUS")
    for r in rows:
        command = " ".join(r.get("command") or [])
        image = r.get("name") or r["image"][7:19]
        age = int(time.time() - r.get("started", time.time()))
        created = f"{age // 3600} hours ago" if age >= 3600 else f"{age // 60} minutes ago" if age >= 60 \
            else f"{age} seconds ago"
        print(f"{r['id'][:12]:<14}{image[:28]:<30}{command[:26]:<28}{created:<16}{r['status']}")


@command(arg("ids", nargs="+"), arg("-f", "--force", action="store_true", help="Stop a running one first."))
def rm(a):
    """Remove stopped containers (their logs go with them)."""
    from distill.api import rm as remove

    store = store_of(a)
    for cid in a.ids:
        remove(store, cid, a.force)
        print(cid)


@command(
    arg("--install", action="store_true", help="Register QEMU emulators (Debian's qemu-user-static) with binfmt_misc, "
                                                "mounting it first where it is not: needs root on the machine."),
    arg("--uninstall", action="store_true", help="Remove the emulators' registrations."),
    arg("architectures", nargs="*", metavar="ARCH", help="arm64, arm, riscv64, ppc64le, s390x, ... (default: "
                                                          "every one qemu-user-static has but this machine's)"),
)
def binfmt(a):
    """Show, install or remove the emulators that run other platforms' programs (RUN for a
    foreign --platform)."""
    from distill.api import binfmt as do_binfmt

    changed, rows = do_binfmt(a.install, a.uninstall, a.architectures or None)
    for name in changed:
        print(f"{'installed' if a.install else 'removed'} {name}", file=sys.stderr)
    if not rows:
        print("no QEMU emulators on this machine: install Debian's qemu-user-static", file=sys.stderr)
    for arch, state, flags in rows:
        print(f"{arch:<10} {state:<15} {flags}".rstrip())
