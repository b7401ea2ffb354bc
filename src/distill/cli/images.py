"""Commands about the store's images: pull, push, images, inspect, history, tag, rmi, import,
save, load, prune, bootstrap."""

from __future__ import annotations

import sys

from distill.errors import DistillError
from distill.cli.commands import arg, command, existing_file, print_json, store_of, INSECURE


@command(
    arg("ref"),
    arg("--platform", help="os/arch[/variant] (default: this machine's)"),
    INSECURE,
    arg("-q", "--quiet", action="store_true"),
)
def pull(a):
    """Pull an image from a registry."""
    from distill.api import pull as do_pull

    result = do_pull(store_of(a), a.ref, a.platform, a.insecure)
    if not a.quiet:
        print(f"{result.fetched} blobs fetched, {result.skipped} already present")
        print(f"Digest: {result.descriptor['digest']}")
    print(result.name)


@command(arg("ref"), arg("dest", nargs="?"), INSECURE)
def push(a):
    """Push an image (to DEST when given, else to the registry REF names)."""
    from distill.api import push as do_push

    r = do_push(store_of(a), a.ref, a.dest, a.insecure)
    print(f"{r.uploaded} uploaded, {r.mounted} mounted, {r.existing} already there")
    print(f"Digest: {r.digest}")


@command(
    arg("-q", "--quiet", action="store_true", help="Only image IDs."),
    arg("--digests", dest="show_digests", action="store_true"),
)
def images(a):
    """List images in the store."""
    from distill.api import images as list_images
    from distill.cli.format import since, size, table

    rows = list_images(store_of(a))
    if a.quiet:
        for r in dict.fromkeys(r.id[7:19] for r in rows):
            print(r)
        return
    digests = a.show_digests
    headers = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    body = [[r.repository, r.tag] + ([r.digest] if digests else []) + [r.id[7:19], since(r.created), size(r.size)]
            for r in rows]
    print(table(headers, body))


@command(arg("ref"), arg("--platform"),
         arg("--build-record", action="store_true", help="Print how the image was built here (stages, steps, "
                                                         "layers, COPY --from) instead."))
def inspect(a):
    """Print an image's manifest and config as JSON."""
    if a.build_record:
        from distill.api import build_record

        record = build_record(store_of(a), a.ref, a.platform)
        if record is None:
            raise DistillError(f"{a.ref} has no build record: it was not built by this store (pulled, loaded, "
                               "imported or bootstrapped)")
        print_json(record)
        return
    from distill.api import inspect as do_inspect

    print_json(do_inspect(store_of(a), a.ref, a.platform))


@command(arg("ref"), arg("--no-trunc", action="store_true"))
def history(a):
    """Show the history of an image, newest first."""
    from distill.api import history as do_history
    from distill.cli.format import since, size, table

    rows = []
    for h in do_history(store_of(a), a.ref):
        by = h.get("created_by", "")
        if not a.no_trunc and len(by) > 45:
            by = by[:44] + "…"
        layer = h["layer"][7:19] if h["layer"] else "<missing>"
        rows.append([layer, since(h.get("created", "")), by, size(h["size"]), h.get("comment", "")])
    print(table(["LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows))


@command(arg("src"), arg("dst"))
def tag(a):
    """Give an image another name."""
    from distill.api import tag as do_tag

    do_tag(store_of(a), a.src, a.dst)


@command(arg("refs", nargs="+"))
def rmi(a):
    """Remove image names (blobs go at the next prune)."""
    from distill.api import rmi as do_rmi

    store = store_of(a)
    for ref in a.refs:
        for name in do_rmi(store, ref):
            print(f"Untagged: {name}")


@command(
    arg("tarball"),
    arg("ref", nargs="?"),
    arg("-m", "--message", help="Comment for the history entry."),
    arg("--platform"),
    name="import",
)
def import_(a):
    """Make a one-layer image from a root filesystem tar ('-' for stdin), as docker import."""
    from distill.api import import_rootfs

    store = store_of(a)
    if a.tarball == "-":
        desc = import_rootfs(store, sys.stdin.buffer, a.ref, a.platform, comment=a.message)
    else:
        with open(a.tarball, "rb") as f:
            desc = import_rootfs(store, f, a.ref, a.platform, created_by=f"distill import {a.tarball}",
                                 comment=a.message)
    print(desc["digest"])


@command(
    arg("refs", nargs="+"),
    arg("-o", "--output", required=True, help="Archive file ('-' for stdout)."),
    arg("--format", dest="fmt", choices=["docker", "oci"], default="docker", help="(default: docker)"),
)
def save(a):
    """Write images to a tar archive (docker load / skopeo read it)."""
    from distill.api import save as do_save

    do_save(store_of(a), a.refs, a.output, a.fmt)


@command(arg("-i", "--input", dest="path", required=True, type=existing_file))
def load(a):
    """Load images from a docker or OCI archive."""
    from distill.api import load as do_load

    for name, desc in do_load(store_of(a), a.path):
        print(f"Loaded image: {name or desc['digest']}")


@command(
    arg("--cache", dest="drop_cache", action="store_true", help="Also drop the build cache."),
    arg("--keep-storage", metavar="SIZE",
        help="Keep the build cache's newest layers up to SIZE (e.g. 10GB; 1024-based, as docker)."),
)
def prune(a):
    """Remove unnamed images and the blobs no image name (nor the build cache) reaches."""
    from distill.api import parse_size
    from distill.api import prune as do_prune
    from distill.cli.format import size

    limit = None
    if a.keep_storage is not None:
        try:
            limit = parse_size(a.keep_storage)
        except ValueError as e:
            raise DistillError(f"--keep-storage: {e}") from None
    count, nbytes = do_prune(store_of(a), a.drop_cache, limit)
    print(f"Deleted {count} blobs, reclaimed {size(nbytes)}")


@command(
    arg("ref"),
    arg("--suite", default="bookworm", help="(default: bookworm)"),
    arg("--variant", default="minbase", help="(default: minbase)"),
    arg("--include", help="Comma-separated extra packages."),
    arg("--mirror", help="Debian mirror URL (default: mmdebstrap's)."),
    arg("--platform", help="os/arch[/variant] (default: this machine's)"),
    arg("--arch", help="A Debian architecture (arm64, armhf, riscv64, ...), instead of --platform: another "
                       "architecture's packages are configured under its emulator (distill binfmt). A name that "
                       "holds another platform's image becomes an index of both."),
)
def bootstrap(a):
    """Make a Debian base image from the Debian archive with mmdebstrap."""
    from distill.api import bootstrap as do_bootstrap

    pkgs = [p.strip() for p in a.include.split(",") if p.strip()] if a.include else None
    if a.arch and a.platform:
        raise DistillError("--arch and --platform: give one")
    print(f"bootstrapping {a.suite} ({a.variant}) …", file=sys.stderr)
    desc = do_bootstrap(store_of(a), a.ref, a.suite, a.variant, pkgs, a.mirror, a.platform, arch=a.arch)
    print(desc["digest"])
