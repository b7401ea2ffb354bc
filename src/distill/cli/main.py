"""The `distill` command. Thin: parse flags, call distill.api, print. Imports are lazy so
`distill --help` starts fast."""

from __future__ import annotations

import gc
import json
import os
import sys

import click


class _Group(click.Group):
    def invoke(self, ctx):
        from ..errors import DistillError

        try:
            return super().invoke(ctx)
        except DistillError as e:
            click.echo("distill: error: " + " | ".join(str(e).splitlines()), err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("distill: interrupted", err=True)
            sys.exit(130)
        except OSError as e:
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            click.echo(f"distill: error: {e.strerror or e}{where}", err=True)
            sys.exit(1)


def _store(ctx):
    from ..api import open_store

    return open_store(ctx.obj.get("root"))


insecure_option = click.option("--insecure-registry", "insecure", multiple=True, metavar="HOST",
                               help="Use plain HTTP for this registry (loopback hosts always do).")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="DISTILL_ROOT", type=click.Path(file_okay=False),
              help="Store directory (default /var/lib/distill as root, ~/.local/share/distill otherwise).")
@click.version_option(package_name="distill")
@click.pass_context
def cli(ctx, root):
    """distill: a daemonless multi-stage container image builder and analyser."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root


@cli.command()
@click.argument("ref")
@click.option("--platform", help="os/arch[/variant] (default: this machine's)")
@insecure_option
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
def pull(ctx, ref, platform, insecure, quiet):
    """Pull an image from a registry."""
    from ..api import pull as do_pull

    result = do_pull(_store(ctx), ref, platform, insecure)
    if not quiet:
        click.echo(f"{result.fetched} blobs fetched, {result.skipped} already present")
        click.echo(f"Digest: {result.descriptor['digest']}")
    click.echo(result.name)


@cli.command()
@click.argument("ref")
@click.argument("dest", required=False)
@insecure_option
@click.pass_context
def push(ctx, ref, dest, insecure):
    """Push an image (to DEST when given, else to the registry REF names)."""
    from ..api import push as do_push

    r = do_push(_store(ctx), ref, dest, insecure)
    click.echo(f"{r.uploaded} uploaded, {r.mounted} mounted, {r.existing} already there")
    click.echo(f"Digest: {r.digest}")


@cli.command()
@click.option("-q", "--quiet", is_flag=True, help="Only image IDs.")
@click.option("--digests", "show_digests", is_flag=True)
@click.pass_context
def images(ctx, quiet, show_digests):
    """List images in the store."""
    from ..api import images as list_images
    from .format import since, size, table

    rows = list_images(_store(ctx))
    if quiet:
        for r in dict.fromkeys(r.id[7:19] for r in rows):
            click.echo(r)
        return
    headers = ["REPOSITORY", "TAG"] + (["DIGEST"] if show_digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    body = [[r.repository, r.tag] + ([r.digest] if show_digests else []) + [r.id[7:19], since(r.created), size(r.size)]
            for r in rows]
    click.echo(table(headers, body))


@cli.command()
@click.argument("ref")
@click.option("--platform")
@click.pass_context
def inspect(ctx, ref, platform):
    """Print an image's manifest and config as JSON."""
    from ..api import inspect as do_inspect

    click.echo(json.dumps(do_inspect(_store(ctx), ref, platform), indent=2))


@cli.command()
@click.argument("ref")
@click.option("--no-trunc", is_flag=True)
@click.pass_context
def history(ctx, ref, no_trunc):
    """Show the history of an image, newest first."""
    from ..api import history as do_history
    from .format import since, size, table

    rows = []
    for h in do_history(_store(ctx), ref):
        by = h.get("created_by", "")
        if not no_trunc and len(by) > 45:
            by = by[:44] + "…"
        layer = h["layer"][7:19] if h["layer"] else "<missing>"
        rows.append([layer, since(h.get("created", "")), by, size(h["size"]), h.get("comment", "")])
    click.echo(table(["LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows))


@cli.command()
@click.argument("src")
@click.argument("dst")
@click.pass_context
def tag(ctx, src, dst):
    """Give an image another name."""
    from ..api import tag as do_tag

    do_tag(_store(ctx), src, dst)


@cli.command()
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def rmi(ctx, refs):
    """Remove image names (blobs go at the next prune)."""
    from ..api import rmi as do_rmi

    store = _store(ctx)
    for ref in refs:
        for name in do_rmi(store, ref):
            click.echo(f"Untagged: {name}")


@cli.command(name="import")
@click.argument("tarball")
@click.argument("ref", required=False)
@click.option("-m", "--message", help="Comment for the history entry.")
@click.option("--platform")
@click.pass_context
def import_(ctx, tarball, ref, message, platform):
    """Make a one-layer image from a root filesystem tar ('-' for stdin), as docker import."""
    from ..api import import_rootfs

    store = _store(ctx)
    if tarball == "-":
        desc = import_rootfs(store, sys.stdin.buffer, ref, platform, comment=message)
    else:
        with open(tarball, "rb") as f:
            desc = import_rootfs(store, f, ref, platform, created_by=f"distill import {tarball}", comment=message)
    click.echo(desc["digest"])


@cli.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Archive file ('-' for stdout).")
@click.option("--format", "fmt", type=click.Choice(["docker", "oci"]), default="docker", show_default=True)
@click.pass_context
def save(ctx, refs, output, fmt):
    """Write images to a tar archive (docker load / skopeo read it)."""
    from ..api import save as do_save

    do_save(_store(ctx), list(refs), output, fmt)


@cli.command()
@click.option("-i", "--input", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def load(ctx, path):
    """Load images from a docker or OCI archive."""
    from ..api import load as do_load

    for name, desc in do_load(_store(ctx), path):
        click.echo(f"Loaded image: {name or desc['digest']}")


@cli.command()
@click.option("--cache", "drop_cache", is_flag=True, help="Also drop the build cache.")
@click.option("--keep-storage", metavar="SIZE",
              help="Keep the build cache's newest layers up to SIZE (e.g. 10GB; 1024-based, as docker).")
@click.pass_context
def prune(ctx, drop_cache, keep_storage):
    """Remove unnamed images and the blobs no image name (nor the build cache) reaches."""
    from ..api import prune as do_prune
    from ..units import parse_size
    from .format import size

    limit = None
    if keep_storage is not None:
        try:
            limit = parse_size(keep_storage)
        except ValueError as e:
            from ..errors import DistillError

            raise DistillError(f"--keep-storage: {e}") from None
    count, nbytes = do_prune(_store(ctx), drop_cache, limit)
    click.echo(f"Deleted {count} blobs, reclaimed {size(nbytes)}")


@cli.command()
@click.argument("ref")
@click.option("--suite", default="bookworm", show_default=True)
@click.option("--variant", default="minbase", show_default=True)
@click.option("--include", help="Comma-separated extra packages.")
@click.option("--mirror", help="Debian mirror URL (default: mmdebstrap's).")
@click.option("--platform")
@click.pass_context
def bootstrap(ctx, ref, suite, variant, include, mirror, platform):
    """Make a Debian base image from the Debian archive with mmdebstrap."""
    from ..api import bootstrap as do_bootstrap

    pkgs = [p.strip() for p in include.split(",") if p.strip()] if include else None
    click.echo(f"bootstrapping {suite} ({variant}) …", err=True)
    desc = do_bootstrap(_store(ctx), ref, suite, variant, pkgs, mirror, platform)
    click.echo(desc["digest"])


def _build_args(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:  # docker: `--build-arg KEY` takes the value from the environment
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


@cli.command()
@click.option("-f", "--file", "dockerfile", default="Dockerfile", show_default=True,
              help="The Dockerfile ('-' for stdin).")
@click.option("--dump", "mode", flag_value="dump", help="Print BuildKit's AST dump.")
@click.option("--json", "mode", flag_value="json", default=True, help="Print the resolved plan (default).")
@click.option("--target", help="The stage to build (default: the last).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE")
@click.option("--platform", help="Target platform, for the TARGET* args.")
def parse(dockerfile, mode, target, build_args, platform):
    """Parse a Dockerfile: its AST (--dump) or the plan a build would follow (--json)."""
    from ..dockerfile.parser import parse as parse_text
    from ..errors import DockerfileError

    name = "<stdin>" if dockerfile == "-" else dockerfile
    try:
        data = sys.stdin.buffer.read() if dockerfile == "-" else open(dockerfile, "rb").read()
    except OSError as e:
        raise click.ClickException(f"cannot read {dockerfile}: {e.strerror}")
    try:
        result = parse_text(data, name)
        if mode == "dump":
            for w in result.warnings:
                click.echo(f"warning: {w}", err=True)
            sys.stdout.write(result.dump())
            return
        from .. import platform as platforms
        from ..plan import make_plan

        plan = make_plan(result, _build_args(build_args), target, platforms.parse(platform) if platform else None,
                         path=name)
    except DockerfileError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    for w in plan.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(json.dumps(plan.to_json(), indent=2))


@cli.command()
@click.argument("context", required=False, default=".")
@click.option("-t", "--tag", "tags", multiple=True, help="Name the image (repeatable).")
@click.option("-f", "--file", "dockerfile", help="The Dockerfile (default CONTEXT/Dockerfile; '-' for stdin).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE")
@click.option("--target", help="Build up to this stage.")
@click.option("--no-cache", is_flag=True, help="Do not use the build cache.")
@click.option("--pull", is_flag=True, help="Always pull base images from their registries.")
@click.option("--network", type=click.Choice(["default", "host", "none"]), default="default",
              help="Network for RUN steps (default: host).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE")
@click.option("--iidfile", type=click.Path(dir_okay=False), help="Write the image ID here.")
@click.option("--platform", help="Target platform (only the native one for now).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.option("--progress", "progress_mode", type=click.Choice(["auto", "tty", "plain", "quiet"]), default="auto")
@click.option("-o", "--output", "outputs", multiple=True,
              help="type=oci|docker|local|registry[,dest=PATH] (a bare PATH means type=local).")
@click.option("--secret", "secrets", multiple=True, metavar="id=ID[,src=PATH|env=VAR]")
@click.option("--ssh", "ssh", multiple=True, metavar="ID[=SOCKET]",
              help="Expose an SSH agent to RUN --mount=type=ssh (default: $SSH_AUTH_SOCK).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Stages built at once (default: the CPU count, and more while a CPU sits idle).")
@insecure_option
@click.pass_context
def build(ctx, context, tags, dockerfile, build_args, target, no_cache, pull, network, labels, iidfile, platform,
          quiet, progress_mode, outputs, secrets, ssh, jobs, insecure):
    """Build an image from a Dockerfile and a context directory ('-': Dockerfile on stdin)."""
    import signal
    from pathlib import Path

    from ..api import build as do_build
    from ..errors import DistillError
    from ..outputs import parse_output
    from ..progress import Progress
    from ..solver.build import BuildOptions

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    if context == "-":
        data, ctx_dir, df_path = sys.stdin.buffer.read(), None, "-"
    else:
        ctx_dir = Path(context)
        if not ctx_dir.is_dir():
            raise DistillError(f"context {context} is not a directory")
        if dockerfile == "-":
            data, df_path = sys.stdin.buffer.read(), "-"
        else:
            df_path = dockerfile or str(ctx_dir / "Dockerfile")
            try:
                data = Path(df_path).read_bytes()
            except OSError as e:
                raise DistillError(f"cannot read Dockerfile {df_path}: {e.strerror}") from None
    secret_map = {}
    for spec in secrets:
        fields = dict(p.partition("=")[::2] for p in spec.split(","))
        if "id" not in fields:
            raise DistillError(f"--secret {spec!r}: id= is required")
        secret_map[fields["id"]] = {"src": fields["src"]} if "src" in fields else {"env": fields.get("env", fields["id"])}
    label_map = dict(l.partition("=")[::2] for l in labels)
    ssh_map = {}
    for spec in ssh:
        sid, _, sock = spec.partition("=")
        sock = sock or os.environ.get("SSH_AUTH_SOCK", "")
        if not sock:
            raise DistillError(f"--ssh {spec}: no socket given and SSH_AUTH_SOCK is not set")
        ssh_map[sid or "default"] = sock
    mode = "quiet" if quiet else progress_mode
    progress = Progress(mode)
    options = BuildOptions(data, df_path if df_path != "-" else "Dockerfile", ctx_dir, _build_args(build_args),
                           target, no_cache, pull, network, label_map, platform, insecure, jobs, secret_map,
                           ssh_map, progress)
    try:
        result, desc, image = do_build(_store(ctx), options, list(tags), [parse_output(o) for o in outputs],
                                       iidfile)
    finally:
        progress.close()
    for w in result.plan.warnings:
        click.echo(f"warning: {w}", err=True)
    if quiet:
        click.echo(image.config_digest)
    else:
        click.echo(f"built {image.config_digest[7:19]} ({result.executed} steps run, {result.cached} cached)"
                   + (f", tagged {', '.join(tags)}" if tags else ""), err=True)
    _leave(result)


def _leave(*alive) -> None:
    """End the process now that everything is written: freeing the build's objects one by
    one (a 20,000-file context's walk: 15-40 ms) and tearing down the modules would only
    delay the exit. `alive` keeps them referenced until then."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        os._exit(1)
    os._exit(0)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--rm", is_flag=True, help="Remove the container's changes when it exits (always the case).")
@click.option("-i", "--interactive", is_flag=True, help="Keep standard input attached.")
@click.option("-t", "--tty", is_flag=True, help="Give the process a terminal (this one must be a terminal).")
@click.option("-e", "--env", "env", multiple=True, metavar="K=V")
@click.option("-w", "--workdir")
@click.option("-u", "--user")
@click.option("--entrypoint")
@click.option("--network", type=click.Choice(["host", "none"]), default="host")
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the container ID.")
@click.option("--name", help="Container ID to use.")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx, rm, interactive, tty, env, workdir, user, entrypoint, network, detach, name, image, command):
    """Run a command in a new container from IMAGE (with runc)."""
    from ..image import lookup
    from ..runtime.container import run as do_run

    store = _store(ctx)
    img = lookup(store, image)
    result = do_run(store, img, list(command), list(env), workdir, user, entrypoint, network, detach, interactive,
                    name, tty)
    if detach:
        click.echo(result)
    else:
        sys.exit(result)


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=float, default=10)
@click.pass_context
def stop(ctx, ids, timeout):
    """Stop containers started with `distill run -d`."""
    from ..runtime.container import stop as do_stop

    store = _store(ctx)
    for cid in ids:
        do_stop(store, cid, timeout)
        click.echo(cid)


@cli.command()
@click.argument("cid")
@click.pass_context
def logs(ctx, cid):
    """Print the output of a detached container."""
    from ..runtime.container import logs as do_logs

    sys.stdout.buffer.write(do_logs(_store(ctx), cid))


def main() -> None:
    # A build holds tens of thousands of long-lived objects (a few per context file); at
    # the default threshold (700) the collector scans them hundreds of times, ~0.1 s of
    # a 20,000-file edit rebuild. Cycles are rare here and the process is short.
    gc.set_threshold(50_000, 20, 100)
    cli(obj={})


if __name__ == "__main__":
    main()
