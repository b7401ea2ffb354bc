"""Building: parse (the plan, as BuildKit's would be) and build."""

from __future__ import annotations

import os
import sys

from distill.errors import DistillError, interrupt
from distill.cli.commands import (
    quick_exit,
    print_json,
    arg,
    command,
    repeatable,
    positive_int,
    store_of,
    INSECURE,
    read_file,
    write_report,
)


def _build_args(values: list[str]) -> dict[str, str]:
    out = {}
    if "SOURCE_DATE_EPOCH" in os.environ:
        # as buildx passes it: a stage that declares `ARG SOURCE_DATE_EPOCH` hands it to its
        # RUN steps, where tools honour it (pip's bytecode, for one, then records no mtime)
        out["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:  # docker: `--build-arg KEY` takes the value from the environment
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


BUILD_ARG = arg("--build-arg", metavar="KEY=VALUE", **repeatable("build_args"))


@command(
    arg("-f", "--file", dest="dockerfile", default="Dockerfile", help="The Dockerfile ('-' for stdin)."),
    arg("--dump", dest="mode", action="store_const", const="dump", default="json", help="Print BuildKit's AST dump."),
    arg("--json", dest="mode", action="store_const", const="json", default="json",
        help="Print the resolved plan (default)."),
    arg("--target", help="The stage to build (default: the last)."),
    BUILD_ARG,
    arg("--platform", help="Target platform, for the TARGET* args."),
)
def parse(a):
    """Parse a Dockerfile: its AST (--dump) or the plan a build would follow (--json)."""
    from distill.api import dockerfile_dump, dockerfile_plan
    from distill.errors import DockerfileError

    name = "<stdin>" if a.dockerfile == "-" else a.dockerfile
    data = sys.stdin.buffer.read() if a.dockerfile == "-" else read_file(a.dockerfile, "")
    try:
        if a.mode == "dump":
            dump, warnings = dockerfile_dump(data, name)
            for w in warnings:
                print(f"warning: {w}", file=sys.stderr)
            sys.stdout.write(dump)
            return
        plan = dockerfile_plan(data, name, _build_args(a.build_args), a.target, a.platform)
    except DockerfileError as e:
        print(str(e), file=sys.stderr)
        sys.exit(1)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print_json(plan.to_json())


@command(
    arg("context", nargs="?", default="."),
    arg("-t", "--tag", metavar="NAME", help="Name the image (repeatable).", **repeatable("tags")),
    arg("-f", "--file", dest="dockerfile", help="The Dockerfile (default CONTEXT/Dockerfile; '-' for stdin)."),
    BUILD_ARG,
    arg("--target", help="Build up to this stage."),
    arg("--no-cache", action="store_true", help="Do not use the build cache."),
    arg("--pull", action="store_true", help="Always pull base images from their registries."),
    arg("--network", choices=["default", "host", "none"], default="default",
        help="Network for RUN steps: default, a private one on the machine's bridge (as docker's); host, the "
             "machine's; none, loopback only."),
    arg("--allow", metavar="ENTITLEMENT",
        help="Let RUN steps ask for this: network.host (RUN --network=host), security.insecure "
             "(RUN --security=insecure). Repeatable.", **repeatable("allow")),
    arg("--label", metavar="KEY=VALUE", **repeatable("labels")),
    arg("--iidfile", metavar="FILE", help="Write the image ID here."),
    arg("--platform", help="Target platform (only the native one for now)."),
    arg("-q", "--quiet", action="store_true", help="Print only the image ID."),
    arg("--progress", dest="progress_mode", choices=["auto", "tty", "plain", "quiet"], default="auto"),
    arg("-o", "--output", metavar="OUTPUT", help="type=oci|docker|local|registry[,dest=PATH] (a bare PATH means type=local).",
        **repeatable("outputs")),
    arg("--secret", metavar="id=ID[,src=PATH|env=VAR]", **repeatable("secrets")),
    arg("--ssh", metavar="ID[=SOCKET]", help="Expose an SSH agent to RUN --mount=type=ssh (default: $SSH_AUTH_SOCK).",
        **repeatable("ssh")),
    arg("--cache-to", metavar="type=registry,ref=REF[,mode=min|max]",
        help="Share this build's step cache: in a registry, in a directory (type=local,dest=DIR) or in the image "
             "(type=inline). Every step's record is shared; mode=max ships every step's layer, min (the default) only the image's own. "
             "Repeatable.", **repeatable("cache_to")),
    arg("--cache-from", metavar="type=registry,ref=REF",
        help="Take steps from a shared cache (type=local,src=DIR for a directory; a bare REF is a registry). "
             "Repeatable.", **repeatable("cache_from")),
    arg("--jobs", type=positive_int, metavar="N", help="Stages built at once (default: the CPU count, and more while a CPU sits idle)."),
    arg("--check", action="store_true", help="Then check that the image will start (distill check); fail if not."),
    arg("--report", metavar="FILE", help="Then write the image's HTML report (distill report) to FILE."),
    arg("--sbom", metavar="FILE", help="Then write the image's SBOM (CycloneDX 1.6 JSON) to FILE."),
    INSECURE,
)
def build(a):
    """Build an image from a Dockerfile and a context directory ('-': Dockerfile on stdin)."""
    import signal

    from distill.api import build as do_build
    from distill.api import build_options, entitlements, isolate, parse_output, progress as make_progress

    isolate()  # first: no thread may run yet
    signal.signal(signal.SIGTERM, interrupt)
    if a.context == "-":
        data, ctx_dir, df_path = sys.stdin.buffer.read(), None, "-"
    else:
        ctx_dir = a.context
        if not os.path.isdir(ctx_dir):
            raise DistillError(f"context {a.context} is not a directory")
        if a.dockerfile == "-":
            data, df_path = sys.stdin.buffer.read(), "-"
        else:
            df_path = a.dockerfile or os.path.join(ctx_dir, "Dockerfile")
            data = read_file(df_path, "Dockerfile ")
    secret_map = {}
    for spec in a.secrets:
        fields = dict(p.partition("=")[::2] for p in spec.split(","))
        if "id" not in fields:
            raise DistillError(f"--secret {spec!r}: id= is required")
        secret_map[fields["id"]] = {"src": fields["src"]} if "src" in fields else {"env": fields.get("env", fields["id"])}
    label_map = dict(l.partition("=")[::2] for l in a.labels)
    ssh_map = {}
    for spec in a.ssh:
        sid, _, sock = spec.partition("=")
        sock = sock or os.environ.get("SSH_AUTH_SOCK", "")
        if not sock:
            raise DistillError(f"--ssh {spec}: no socket given and SSH_AUTH_SOCK is not set")
        ssh_map[sid or "default"] = sock
    progress = make_progress("quiet" if a.quiet else a.progress_mode)
    options = build_options(data, dockerfile_path=df_path if df_path != "-" else "Dockerfile", context=ctx_dir,
                            build_args=_build_args(a.build_args), target=a.target, no_cache=a.no_cache, pull=a.pull,
                            network=a.network, allow=entitlements(a.allow), labels=label_map, platform=a.platform,
                            insecure=tuple(a.insecure),
                            jobs=a.jobs, secrets=secret_map, ssh=ssh_map, progress=progress,
                            cache_from=tuple(a.cache_from), cache_to=tuple(a.cache_to))
    try:
        result, desc, image = do_build(store_of(a), options, a.tags, [parse_output(o) for o in a.outputs], a.iidfile,
                                       _check_gate(store_of(a)) if a.check else None)
    finally:
        progress.close()
    for w in result.plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not a.quiet:
        from distill.api import build_lint

        found = build_lint(options, store_of(a))
        if found:
            print(f"{len(found)} lint warning{'s' if len(found) > 1 else ''} (distill lint shows them all, with "
                  "fixes):", file=sys.stderr)
            for f in found:
                alias = f" ({', '.join(f['aliases'])})" if f["aliases"] else ""
                print(f" - {f['rule']}{alias}: {f['message']} ({f['file']}:{f['line']})", file=sys.stderr)
    several = desc["digest"] != image.manifest_digest  # an index of the platforms' images
    if a.quiet:
        print(desc["digest"] if several else image.config_digest)
    else:
        steps = "1 step" if result.executed == 1 else f"{result.executed} steps"
        what = f"index {desc['digest'][7:19]} of {a.platform}" if several else image.config_digest[7:19]
        print(f"built {what} ({steps} run, {result.cached} cached)"
              + (f", tagged {', '.join(a.tags)}" if a.tags else ""), file=sys.stderr)
    if a.report:
        from distill.api import report as make_report

        write_report(a.report, make_report(store_of(a), a.tags[0] if a.tags else image.config_digest))
        if not a.quiet:
            print(f"wrote {a.report}", file=sys.stderr)
    if a.sbom:
        from distill.api import sbom as make_sbom

        write_report(a.sbom, make_sbom(store_of(a), a.tags[0] if a.tags else image.config_digest, "cyclonedx-json"))
        if not a.quiet:
            print(f"wrote {a.sbom}", file=sys.stderr)
    quick_exit(0, result)  # freeing a 20,000-file context's walk one object at a time: 15-40 ms


def _check_gate(store):
    """--check: an image that will not start is neither tagged nor sent."""
    def gate(image) -> None:
        from distill.api import check as do_check

        report = do_check(store, image.config_digest)
        for f in report["findings"]:
            print(f"{f['severity']}: {f['rule']}: {f['message']}", file=sys.stderr)
        if report["verdict"] != "ok":
            raise DistillError(f"the image was built ({image.config_digest[7:19]}), but it will not start (see "
                               "above): not tagged")
    return gate

