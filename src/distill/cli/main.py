"""The `distill` command. Thin: parse flags, call distill.api, print.

Flags are parsed with argparse, and only the chosen command's parser is made: a start
pays ~1 ms for its command line. Everything else is imported by the command that needs it.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from distill.errors import DistillError


def _import_argparse():
    """argparse, its phrases untranslated, as distill's own messages are. It imports gettext
    only to look them up in a "messages" catalogue no package installs: gettext's import
    compiles a regex and its first lookup imports locale and stats a dozen paths (~2 ms of
    every start together). argparse gets a stand-in for that one import; a later `import
    gettext` anywhere gets the real module."""
    if "argparse" in sys.modules or "gettext" in sys.modules:
        import argparse
    else:
        stand_in = type(sys)("gettext")
        stand_in.gettext = str
        stand_in.ngettext = lambda singular, plural, n: singular if n == 1 else plural
        sys.modules["gettext"] = stand_in
        try:
            import argparse
        finally:
            del sys.modules["gettext"]
    argparse._ = str
    return argparse


argparse = _import_argparse()

_COMMANDS: dict[str, tuple] = {}   # name -> (handler, its argument specs)


def arg(*names, **kw) -> tuple:
    """One `add_argument` call, kept as data until the command is chosen."""
    return names, kw


def command(*specs, name: str | None = None):
    """Register a handler; its docstring's first line is the command's summary."""

    def register(fn):
        _COMMANDS[name or fn.__name__] = (fn, specs)
        return fn

    return register


def _repeatable(name: str) -> dict:
    return dict(action="append", default=[], dest=name)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is below 1")
    return n


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a file")
    return text


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse makes a formatter for every add_argument; its own learns the terminal's
    width through shutil, whose import (bz2 and lzma behind it) is ~3 ms of a start."""

    def __init__(self, prog, **kw):
        try:
            width = int(os.environ.get("COLUMNS") or 0) or os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            width = 80
        super().__init__(prog, width=width - 2, **kw)


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kw):
        # a flag is spelled in full, as docker's: an abbreviation would change meaning the
        # day a second flag shares its prefix
        super().__init__(allow_abbrev=False, formatter_class=_Formatter, **kw)

    def error(self, message):
        # one line, as every other error; the usage is a --help away
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


class _Version(argparse.Action):
    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, help="Print the version and exit.")

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import version

        print(f"distill {version('distill')}")
        parser.exit()


def _store(a):
    from distill.api import open_store

    return open_store(a.root)


INSECURE = arg("--insecure-registry", metavar="HOST", help="Use plain HTTP for this registry (loopback hosts always do).",
               **_repeatable("insecure"))


@command(
    arg("ref"),
    arg("--platform", help="os/arch[/variant] (default: this machine's)"),
    INSECURE,
    arg("-q", "--quiet", action="store_true"),
)
def pull(a):
    """Pull an image from a registry."""
    from distill.api import pull as do_pull

    result = do_pull(_store(a), a.ref, a.platform, a.insecure)
    if not a.quiet:
        print(f"{result.fetched} blobs fetched, {result.skipped} already present")
        print(f"Digest: {result.descriptor['digest']}")
    print(result.name)


@command(arg("ref"), arg("dest", nargs="?"), INSECURE)
def push(a):
    """Push an image (to DEST when given, else to the registry REF names)."""
    from distill.api import push as do_push

    r = do_push(_store(a), a.ref, a.dest, a.insecure)
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

    rows = list_images(_store(a))
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

        record = build_record(_store(a), a.ref)
        if record is None:
            raise DistillError(f"{a.ref} has no build record: it was not built by this store (pulled, loaded or "
                               "imported)")
        print(json.dumps(record, indent=2))
        return
    from distill.api import inspect as do_inspect

    print(json.dumps(do_inspect(_store(a), a.ref, a.platform), indent=2))


@command(arg("ref"), arg("--no-trunc", action="store_true"))
def history(a):
    """Show the history of an image, newest first."""
    from distill.api import history as do_history
    from distill.cli.format import since, size, table

    rows = []
    for h in do_history(_store(a), a.ref):
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

    do_tag(_store(a), a.src, a.dst)


@command(arg("refs", nargs="+"))
def rmi(a):
    """Remove image names (blobs go at the next prune)."""
    from distill.api import rmi as do_rmi

    store = _store(a)
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

    store = _store(a)
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

    do_save(_store(a), a.refs, a.output, a.fmt)


@command(arg("-i", "--input", dest="path", required=True, type=_existing_file))
def load(a):
    """Load images from a docker or OCI archive."""
    from distill.api import load as do_load

    for name, desc in do_load(_store(a), a.path):
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
    count, nbytes = do_prune(_store(a), a.drop_cache, limit)
    print(f"Deleted {count} blobs, reclaimed {size(nbytes)}")


@command(
    arg("ref"),
    arg("--suite", default="bookworm", help="(default: bookworm)"),
    arg("--variant", default="minbase", help="(default: minbase)"),
    arg("--include", help="Comma-separated extra packages."),
    arg("--mirror", help="Debian mirror URL (default: mmdebstrap's)."),
    arg("--platform"),
)
def bootstrap(a):
    """Make a Debian base image from the Debian archive with mmdebstrap."""
    from distill.api import bootstrap as do_bootstrap

    pkgs = [p.strip() for p in a.include.split(",") if p.strip()] if a.include else None
    print(f"bootstrapping {a.suite} ({a.variant}) …", file=sys.stderr)
    desc = do_bootstrap(_store(a), a.ref, a.suite, a.variant, pkgs, a.mirror, a.platform)
    print(desc["digest"])


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DistillError(f"cannot read {what}{path}: {e.strerror}") from None


STAGE = arg("--stage", metavar="NAME", help="One of the build's stages (by name or index), through its build record.")


@command(
    arg("image"),
    arg("path", nargs="?", default="/"),
    arg("-R", "--recursive", action="store_true", help="Everything below PATH."),
    arg("-l", dest="long", action="store_true", help="Mode, owner, size, layer and who wrote each entry."),
    arg("--json", action="store_true", help="One JSON array of entries."),
    STAGE,
    INSECURE,
)
def ls(a):
    """List files inside an image, read from its layers (nothing is unpacked). IMAGE: in the
    store, an archive (a file, oci-archive:PATH, docker-archive:PATH) or in a registry
    (docker://REF)."""
    from distill.api import ls as list_files

    rows = list_files(_store(a), a.image, a.path, a.recursive, a.stage, tuple(a.insecure))
    if a.json:
        keys = ("path", "type", "mode", "uid", "gid", "size", "target", "layer", "stage", "line")
        print(json.dumps([{k: r[k] for k in keys} for r in rows], indent=1))
        return
    out = []
    for r in rows:
        name = r["path"] if a.recursive or a.path.rstrip("/") == r["path"] else r["path"].rpartition("/")[2]
        if r["target"]:
            name += f" -> {r['target']}" if r["type"] == "symlink" else f" link to {r['target']}"
        if not a.long:
            out.append(name)
            continue
        who = f"{r['stage']}:{r['line']}" if r["stage"] is not None else (r["created_by"] or "")[:24]
        layer = "-" if r["layer"] is None else str(r["layer"])
        out.append(f"{_filemode(r['type'], r['mode'])} {r['uid']}/{r['gid']} {r['size']:>10} {layer:>3} "
                   f"{who:<24} {name}")
    sys.stdout.write("".join(line + "\n" for line in out))


def _filemode(kind: str, mode: int) -> str:
    letter = {"dir": "d", "symlink": "l", "char": "c", "block": "b", "fifo": "p"}.get(kind, "-")
    bits = "".join(ch if mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    special = list(bits)
    for bit, at, on in ((0o4000, 2, "s"), (0o2000, 5, "s"), (0o1000, 8, "t")):
        if mode & bit:
            special[at] = on if special[at] == "x" else on.upper()
    return letter + "".join(special)


@command(
    arg("image"),
    arg("-o", "--output", required=True, help="The tar file ('-' for stdout)."),
    STAGE,
    INSECURE,
)
def export(a):
    """Write an image's flattened filesystem as one tar (as crane export)."""
    from distill.api import export as do_export

    do_export(_store(a), a.image, a.output, a.stage, tuple(a.insecure))


@command(
    arg("paths", nargs="*", metavar="PATH",
        help="A build context (its Dockerfile is linted with the context's rules), or Dockerfiles alone as "
             "hadolint takes them ('-' reads one from stdin); default: the current directory."),
    arg("-f", "--file", dest="dockerfile", help="The Dockerfile of a context (default: CONTEXT/Dockerfile)."),
    arg("--target", help="The stage that ships (default: the last): rules about the running image apply to it."),
    arg("--format", dest="fmt", choices=["text", "json", "sarif", "checkstyle", "gitlab", "junit"], default="text"),
    arg("--ignore", action="append", default=[], help="A rule to leave out (distill's id, a DL code or a BuildKit "
                                                      "check name); repeatable."),
    arg("--failure-threshold", dest="threshold", choices=["error", "warning", "info", "style", "none"],
        help="The least severity that makes the exit code 1 (default: the configuration's, else info)."),
    arg("--no-shellcheck", dest="shellcheck", action="store_false", help="Do not run ShellCheck on RUN scripts."),
)
def lint(a):
    """Lint a Dockerfile: hadolint's and BuildKit's rules, aware of which stage ships."""
    from distill.api import existing_store, lint_config, lint_source_line, lint_text

    store, findings, sources, threshold = existing_store(a.root), [], {}, a.threshold
    try:
        if a.dockerfile and len(a.paths) > 1:
            raise DistillError("-f names the Dockerfile of one context")
        for path in a.paths or ["."]:
            context = path if a.dockerfile or os.path.isdir(path) else None
            dockerfile = a.dockerfile or (os.path.join(path, "Dockerfile") if context else path)
            text = sys.stdin.buffer.read() if dockerfile == "-" else _read(dockerfile, "Dockerfile ")
            sources[dockerfile] = text
            findings += lint_text(text, dockerfile, context, a.target, tuple(a.ignore), a.shellcheck, store=store)
            threshold = threshold or lint_config(dockerfile, context)["threshold"]
    except DistillError as e:
        print("distill: error: " + " | ".join(str(e).splitlines()), file=sys.stderr)
        sys.exit(2)
    from distill.api import lint_shellcheck_available

    if a.shellcheck and not lint_shellcheck_available():
        print("distill: note: shellcheck is not installed: RUN scripts were not checked (apt-get install "
              "shellcheck)", file=sys.stderr)
    if a.fmt == "json":
        print(json.dumps(findings, indent=2))
    elif a.fmt != "text":
        from distill.api import lint_format

        print(lint_format(findings, a.fmt, " ".join(sources)))
    else:
        for f in findings:
            alias = f" ({', '.join(f['aliases'])})" if f["aliases"] else ""
            print(f"{f['file']}:{f['line']}: {f['severity']}: {f['rule']}{alias}: {f['message']}")
            source = lint_source_line(sources.get(f["file"], b""), f["line"])
            if source:
                print(f"  {source}\n  ^")
    threshold = threshold or "info"
    order = ["error", "warning", "info", "style"]
    limit = order.index(threshold) if threshold != "none" else -1
    sys.exit(1 if any(order.index(f["severity"]) <= limit for f in findings) else 0)


@command(
    arg("image"),
    arg("--format", dest="fmt", choices=["text", "json", "sarif"], default="text"),
    arg("--run", nargs="?", type=float, const=3.0, default=None, metavar="SECONDS",
        help="Also start it under runc, no network, for SECONDS (default 3), to confirm; the verdict does not "
             "depend on it."),
    STAGE,
    INSECURE,
)
def check(a):
    """Will the image start? Exit 0: it will; 1: it will not; 2: it could not be checked."""
    from distill.api import check as do_check

    try:
        report = do_check(_store(a), a.image, a.stage, tuple(a.insecure))
        if a.run is not None:
            from distill.api import try_start

            report["run"] = try_start(_store(a), a.image, a.run)
    except DistillError as e:
        print("distill: error: " + " | ".join(str(e).splitlines()), file=sys.stderr)
        sys.exit(2)
    if a.fmt == "json":
        print(json.dumps(report, indent=2))
    elif a.fmt == "sarif":
        from distill.api import check_sarif

        print(json.dumps(check_sarif(report, a.image), indent=2))
    else:
        for f in report["findings"]:
            where = f" [{f['stage']}" + (f", Dockerfile:{f['line']}" if f.get("line") else "") + "]" if f.get(
                "stage") else ""
            print(f"{f['severity']}: {f['rule']}: {f['message']}{where}")
        if report.get("python"):
            py = report["python"]
            real = f" → {py['real']}" if py["real"] != py["executable"] else ""
            venv = f", virtual environment {py['venv']}" if py["venv"] else ""
            print(f"python: {py['executable']}{real} (Python {py['version'] or '?'}{venv}); sys.path: "
                  f"{', '.join(py['sys_path']) or '-'}")
        verdict = "will start" if report["verdict"] == "ok" else "will NOT start"
        print(f"{a.image}: {verdict}")
        if "run" in report:
            run = report["run"]
            said = (f"still running after {a.run:g} s" if run["exit_code"] is None else f"exited {run['exit_code']}")
            print(f"run: {'started' if run['started'] else 'did not start'} ({said})")
            for line in [] if run["started"] else run["stderr"]:
                print(f"  {line}")
    sys.exit(0 if report["verdict"] == "ok" else 1)


def _size_arg(text: str) -> int:
    from distill.api import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _ratio(text: str) -> float:
    """0.9, or 90%."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ratio (0.9) or a percentage (90%)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1 (0% and 100%)")
    return value


@command(
    arg("image"),
    arg("--format", dest="fmt", choices=["text", "json"], default="text"),
    arg("--top", type=_positive_int, default=10, help="How many of the largest files, directories and wasted "
                                                       "paths to list (default 10)."),
    arg("--max-size", type=_size_arg, metavar="SIZE", help="Fail (exit 1) when the image is larger (as 500MB)."),
    arg("--max-wasted", type=_size_arg, metavar="SIZE", help="Fail when more bytes than this are wasted."),
    arg("--max-wasted-percent", type=float, metavar="PERCENT",
        help="Fail when more than this percentage of the files' bytes is wasted."),
    arg("--min-efficiency", type=_ratio, metavar="RATIO", help="Fail below this efficiency (0.95, or 95%%)."),
    STAGE,
    INSECURE,
)
def size(a):
    """Where an image's bytes are, layer by layer, and which of them later layers hide
    (wasted). Exit 0; 1 when a --max/--min gate is crossed; 2 when it could not be read."""
    from distill.api import size as measure
    from distill.cli.format import size as human

    try:
        report = measure(_store(a), a.image, a.stage, a.top, tuple(a.insecure))
    except DistillError as e:
        print("distill: error: " + " | ".join(str(e).splitlines()), file=sys.stderr)
        sys.exit(2)
    wasted_percent = 100 * report["wasted_bytes"] / report["files"] if report["files"] else 0.0
    crossed = []
    if a.max_size is not None and report["size"] > a.max_size:
        crossed.append(f"size {human(report['size'])} is over --max-size {human(a.max_size)}")
    if a.max_wasted is not None and report["wasted_bytes"] > a.max_wasted:
        crossed.append(f"wasted {human(report['wasted_bytes'])} is over --max-wasted {human(a.max_wasted)}")
    if a.max_wasted_percent is not None and wasted_percent > a.max_wasted_percent:
        crossed.append(f"wasted {wasted_percent:.2f}% is over --max-wasted-percent {a.max_wasted_percent:g}%")
    if a.min_efficiency is not None and report["efficiency"] < a.min_efficiency:
        crossed.append(f"efficiency {100 * report['efficiency']:.2f}% is under --min-efficiency "
                       f"{100 * a.min_efficiency:g}%")
    if a.fmt == "json":
        print(json.dumps({**report, "failed": crossed}, indent=2))
    else:
        _print_size(a.image, report, wasted_percent, human)
        for c in crossed:
            print(f"FAIL: {c}")
    sys.exit(1 if crossed else 0)


def _print_size(name: str, r: dict, wasted_percent: float, human) -> None:
    print(f"{name}: {human(r['size'])} in {len(r['layers'])} layers; files {human(r['files'])}, wasted "
          f"{human(r['wasted_bytes'])} ({wasted_percent:.2f}%), efficiency {100 * r['efficiency']:.2f}%")
    print(f"{'LAYER':<6}{'SIZE':>9}{'FILES':>9}{'WASTED':>9}  {'STAGE':<12}{'LINE':>5}  CREATED BY")
    for i, l in enumerate(r["layers"]):
        created = " ".join(l["created_by"].split())
        created = created if len(created) <= 60 else created[:57] + "..."
        print(f"{i:<6}{human(l['size']):>9}{human(l['files']):>9}{human(l['wasted_bytes']):>9}  "
              f"{(l['stage'] or '-'):<12}{(l['line'] or '-'):>5}  {created}")
    for title, rows, key in (("largest files", r["largest"], "size"), ("largest directories", r["largest_dirs"], "size"),
                             ("wasted (hidden by a later layer)", r["wasted"], "bytes")):
        if rows:
            print(f"{title}:")
            for row in rows:
                where = f"  (layer {', '.join(str(c['layer']) for c in row['copies'])})" if "copies" in row else ""
                print(f"  {human(row[key]):>9}  {row['path']}{where}")
    st = r.get("stages")
    if st:
        base = st["base"]
        parts = [f"base {base['ref']} {human(base['size'])} ({base['layers']} layer{'s' if base['layers'] != 1 else ''})"]
        parts += [f"COPY --from={c['stage']} {human(c['size'])} (line {c['line']})" for c in st["copies_from"]]
        parts.append(f"its own steps {human(st['own'])}")
        print(f"final stage {st['final']}: " + "; ".join(parts))


@command(
    arg("images", nargs="+", metavar="IMAGE", help="Two images (A B), or one with --stages."),
    arg("--stages", action="store_true", help="The image against each builder stage of its build: what the "
                                              "multi-stage build kept out."),
    arg("--format", dest="fmt", choices=["text", "json"], default="text"),
    INSECURE,
)
def compare(a):
    """Two images side by side: sizes, files only in one or changed by directory, packages
    only in one. With --stages, a build's image against each of its builder stages."""
    from distill.api import compare as compare_images
    from distill.api import compare_stages
    from distill.cli.format import size as human

    if a.stages != (len(a.images) == 1) or len(a.images) > 2:
        raise DistillError("compare takes two images, or one with --stages")
    report = compare_stages(_store(a), a.images[0]) if a.stages else \
        compare_images(_store(a), a.images[0], a.images[1], tuple(a.insecure))
    if a.fmt == "json":
        print(json.dumps(report, indent=2))
    elif a.stages:
        _print_stages(report, human)
    else:
        _print_compare(a.images[0], a.images[1], report, human)


@command(
    arg("image"),
    arg("--format", dest="fmt", choices=["table", "json", "cyclonedx-json", "spdx-json"], default="table"),
    arg("-o", "--output", metavar="FILE", help="Write it here (default: standard output)."),
    arg("--files", action="store_true", help="List the files each package owns (json: always)."),
    STAGE,
    INSECURE,
)
def sbom(a):
    """The packages an image holds (dpkg, apk, Python, npm), with package URLs, licences
    and the layer, stage and Dockerfile line that brought each."""
    from distill.api import sbom as make_sbom

    text = make_sbom(_store(a), a.image, a.fmt, a.stage, a.files, tuple(a.insecure))
    if a.output:
        _write_report(a.output, text)
    else:
        sys.stdout.write(text)


@command(arg("--repair", action="store_true", help="Remove what is broken (never a sound object), so the next "
                                                     "build or pull makes it again."))
def fsck(a):
    """Verify the store: every blob against its digest, every name's manifest and what it
    references, build records, the step cache, unpacked snapshots. Exit 0 when sound."""
    from distill.api import fsck as check_store

    store = _store(a)
    problems = check_store(store, a.repair)
    for p in problems:
        print(p)
    if problems and a.repair:
        problems = check_store(store, False)
        for p in problems:
            print(f"still: {p}")
    if not problems:
        print("the store is sound" if not a.repair else "the store is sound now")
    sys.exit(1 if problems else 0)


@command(
    arg("action", choices=["import", "update", "status"]),
    arg("paths", nargs="*", metavar="PATH", help="import: OSV all.zip files or directories of OSV JSON."),
    arg("--ecosystem", metavar="NAME", help="update: an OSV ecosystem to download (Debian, PyPI, npm, Alpine, ...; "
                                            "default Debian and PyPI). Repeatable.", **_repeatable("ecosystems")),
    arg("--source", metavar="URL", help="update: where the exports are (default: OSV's public bucket)."),
)
def db(a):
    """The local vulnerability database: `db import PATH...` loads OSV records (replacing
    what was there), `db update` downloads OSV's exports and imports them, `db status`
    says what it holds and how old it is."""
    import time

    from distill.api import db_import, db_status, db_update

    if a.action in ("import", "update"):
        if a.action == "update":
            done = db_update(_store(a), a.ecosystems or ["Debian", "PyPI"], a.source)
        elif not a.paths:
            raise DistillError("db import needs at least one PATH (an OSV all.zip or a directory of OSV JSON)")
        else:
            done = db_import(_store(a), a.paths)
        print(f"imported {done['records']} records: " +
              ", ".join(f"{eco} {n}" for eco, n in done["ecosystems"].items()))
        return
    st = db_status(_store(a))
    age = (time.time() - st["imported"]) / 86400
    print(f"{st['records']} records, imported {age:.1f} days ago from {', '.join(st['sources'])}")
    for eco, n in sorted(st["ecosystems"].items()):
        print(f"  {eco}: {n}")


@command(
    arg("image"),
    arg("--format", dest="fmt", choices=["table", "json", "sarif", "cyclonedx-json"], default="table"),
    arg("--fail-on", choices=["low", "medium", "high", "critical"], help="Exit 1 when a finding is this severe or "
                                                                          "more."),
    arg("--ignore-unfixed", action="store_true", help="Leave out vulnerabilities with no fixed version."),
    arg("--ignore-file", metavar="FILE", help="IDs to leave out: an OpenVEX document (not_affected, fixed) or a "
                                              "list, one a line."),
    arg("--stages", action="store_true", help="Also scan each builder stage of the build: what the multi-stage "
                                              "build kept out of the image."),
    STAGE,
    INSECURE,
)
def scan(a):
    """Match the image's packages against the local OSV database (distill db), offline."""
    from distill.api import scan as do_scan
    from distill.api import scan_ignores

    ignore = scan_ignores(a.ignore_file) if a.ignore_file else set()
    result = do_scan(_store(a), a.image, a.stage, ignore, a.ignore_unfixed, tuple(a.insecure), a.stages)
    found = result["findings"]
    if a.fmt == "json":
        print(json.dumps({k: v for k, v in result.items() if k != "components"}, indent=2))
    elif a.fmt == "cyclonedx-json":
        from distill.api import scan_cyclonedx

        print(scan_cyclonedx(result))
    elif a.fmt == "sarif":
        from distill.api import scan_sarif

        print(json.dumps(scan_sarif(result), indent=2))
    else:
        print(f"{'ID':<22}{'PACKAGE':<28}{'INSTALLED':<26}{'FIXED IN':<26}{'SEVERITY':<10}WHERE")
        for f in found:
            where = f"{f['stage']}:{f['line']}" if f.get("stage") else (f"layer {f['layer']}" if f.get("layer") is not None
                                                                        else "")
            name = f["package"] + (f" ({f['source']})" if f.get("source") else "")
            print(f"{f['id']:<22}{name:<28}{f['installed']:<26}{', '.join(f['fixed']) or '-':<26}"
                  f"{f['severity']:<10}{where}")
        print(f"{len(found)} vulnerabilities in {result['packages']} packages")
        for name, only in (result.get("builder_only") or {}).items():
            ids = sorted({f["id"] for f in only})
            print(f"stage {name}: {len(only)} more findings ({len(ids)} vulnerabilities) only in the builder stage, "
                  f"not shipped" + (f": {', '.join(ids[:10])}{', ...' if len(ids) > 10 else ''}" if ids else ""))
        if "builder_only" in result:
            print(f"ships in the final image: {len(found)}; only in builder stages: "
                  f"{sum(len(v) for v in result['builder_only'].values())}")
    from distill.api import scan_fails

    sys.exit(1 if scan_fails(found, a.fail_on) else 0)


@command(
    arg("image"),
    arg("-o", "--output", required=True, metavar="FILE", help="Where to write the HTML page."),
    INSECURE,
)
def report(a):
    """One HTML page about an image, readable offline: a treemap of its files by size and
    layer, its layers and waste, what its build kept out, whether it will start, lint."""
    from distill.api import report as make_report

    _write_report(a.output, make_report(_store(a), a.image, tuple(a.insecure)))
    print(f"wrote {a.output}", file=sys.stderr)


def _write_report(path: str, page: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        raise DistillError(f"{path}: {e.strerror}") from None


def _print_compare(name_a: str, name_b: str, r: dict, human) -> None:
    sa, sb = r["a"]["size"], r["b"]["size"]
    change = f"{'+' if sb >= sa else '-'}{human(abs(sb - sa))}" + (f", {100 * (sb - sa) / sa:+.0f}%" if sa else "")
    print(f"{'':<10}{'A: ' + name_a:<36}{'B: ' + name_b:<36}")
    print(f"{'size':<10}{human(sa):<36}{human(sb):<36}({change})")
    print(f"{'layers':<10}{r['a']['layers']:<36}{r['b']['layers']:<36}")
    files = r["files"]
    for key, title in (("only_a", "only in A"), ("only_b", "only in B"), ("changed", "changed")):
        side = files[key]
        print(f"files {title}: {side['count']} ({human(side['bytes'])})")
        for g in side["groups"][:8]:
            print(f"  {human(g['bytes']):>9}  {g['path']}  ({g['count']} entries)")
    for eco, d in r["packages"].items():
        print(f"{eco} packages: {d['count_a']} in A, {d['count_b']} in B")
        for key, title in (("only_a", "only in A"), ("only_b", "only in B")):
            if d[key]:
                names = list(d[key])
                print(f"  {title} ({len(names)}): {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}")
        if d["changed"]:
            print(f"  other versions: {', '.join(f'{n} {va} -> {vb}' for n, (va, vb) in d['changed'].items())}")


def _print_stages(r: dict, human) -> None:
    print(f"{r['image']}: {human(r['size'])} in {r['layers']} layers")
    if not r["stages"]:
        print("no builder stages: a single-stage build")
    for st in r["stages"]:
        kept = st["kept_out"]
        print(f"stage {st['stage']}: {human(st['size'])} in {st['layers']} layers; kept out of the image: "
              f"{human(kept['bytes'])} in {kept['count']} entries")
        for g in kept["groups"][:5]:
            print(f"  {human(g['bytes']):>9}  {g['path']}  ({g['count']} entries)")
        for eco, names in st["packages_kept_out"].items():
            listed = list(names)
            print(f"  {eco} packages kept out ({len(listed)}): {', '.join(listed[:12])}"
                  f"{', ...' if len(listed) > 12 else ''}")


def _build_args(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:  # docker: `--build-arg KEY` takes the value from the environment
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


BUILD_ARG = arg("--build-arg", metavar="KEY=VALUE", **_repeatable("build_args"))


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
    data = sys.stdin.buffer.read() if a.dockerfile == "-" else _read(a.dockerfile, "")
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
    print(json.dumps(plan.to_json(), indent=2))


@command(
    arg("context", nargs="?", default="."),
    arg("-t", "--tag", metavar="NAME", help="Name the image (repeatable).", **_repeatable("tags")),
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
             "(RUN --security=insecure). Repeatable.", **_repeatable("allow")),
    arg("--label", metavar="KEY=VALUE", **_repeatable("labels")),
    arg("--iidfile", metavar="FILE", help="Write the image ID here."),
    arg("--platform", help="Target platform (only the native one for now)."),
    arg("-q", "--quiet", action="store_true", help="Print only the image ID."),
    arg("--progress", dest="progress_mode", choices=["auto", "tty", "plain", "quiet"], default="auto"),
    arg("-o", "--output", metavar="OUTPUT", help="type=oci|docker|local|registry[,dest=PATH] (a bare PATH means type=local).",
        **_repeatable("outputs")),
    arg("--secret", metavar="id=ID[,src=PATH|env=VAR]", **_repeatable("secrets")),
    arg("--ssh", metavar="ID[=SOCKET]", help="Expose an SSH agent to RUN --mount=type=ssh (default: $SSH_AUTH_SOCK).",
        **_repeatable("ssh")),
    arg("--cache-to", metavar="type=registry,ref=REF[,mode=min|max]",
        help="Share this build's step cache: in a registry, in a directory (type=local,dest=DIR) or in the image "
             "(type=inline). mode=max shares every stage's steps, min (the default) those of the image's stages. "
             "Repeatable.", **_repeatable("cache_to")),
    arg("--cache-from", metavar="type=registry,ref=REF",
        help="Take steps from a shared cache (type=local,src=DIR for a directory; a bare REF is a registry). "
             "Repeatable.", **_repeatable("cache_from")),
    arg("--jobs", type=_positive_int, metavar="N", help="Stages built at once (default: the CPU count, and more while a CPU sits idle)."),
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

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
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
            data = _read(df_path, "Dockerfile ")
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
        result, desc, image = do_build(_store(a), options, a.tags, [parse_output(o) for o in a.outputs], a.iidfile)
    finally:
        progress.close()
    for w in result.plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not a.quiet:
        from distill.api import build_lint

        found = build_lint(options, _store(a))
        if found:
            print(f"{len(found)} lint warning{'s' if len(found) > 1 else ''} (distill lint shows them all, with "
                  "fixes):", file=sys.stderr)
            for f in found:
                alias = f" ({', '.join(f['aliases'])})" if f["aliases"] else ""
                print(f" - {f['rule']}{alias}: {f['message']} ({f['file']}:{f['line']})", file=sys.stderr)
    if a.quiet:
        print(image.config_digest)
    else:
        steps = "1 step" if result.executed == 1 else f"{result.executed} steps"
        print(f"built {image.config_digest[7:19]} ({steps} run, {result.cached} cached)"
              + (f", tagged {', '.join(a.tags)}" if a.tags else ""), file=sys.stderr)
    if a.report:
        from distill.api import report as make_report

        _write_report(a.report, make_report(_store(a), a.tags[0] if a.tags else image.config_digest))
        if not a.quiet:
            print(f"wrote {a.report}", file=sys.stderr)
    if a.sbom:
        from distill.api import sbom as make_sbom

        _write_report(a.sbom, make_sbom(_store(a), a.tags[0] if a.tags else image.config_digest, "cyclonedx-json"))
        if not a.quiet:
            print(f"wrote {a.sbom}", file=sys.stderr)
    if a.check:
        from distill.api import check as do_check

        report = do_check(_store(a), image.config_digest)
        for f in report["findings"]:
            print(f"{f['severity']}: {f['rule']}: {f['message']}", file=sys.stderr)
        if report["verdict"] != "ok":
            raise DistillError("the image was built, but it will not start (see above)")
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


@command(
    arg("--rm", action="store_true", help="Remove the container's changes when it exits (always the case)."),
    arg("-i", "--interactive", action="store_true", help="Keep standard input attached."),
    arg("-t", "--tty", action="store_true", help="Give the process a terminal (this one must be a terminal)."),
    arg("-e", "--env", metavar="K=V", **_repeatable("env")),
    arg("-w", "--workdir"),
    arg("-u", "--user"),
    arg("--entrypoint"),
    arg("--network", choices=["default", "bridge", "private", "host", "none"], default="default",
        help="default (also bridge, private): a network of its own on the machine's bridge (as docker's); "
             "host: the machine's; none: loopback only."),
    arg("-p", "--publish", metavar="[IP:][HOST:]CONTAINER[/PROTO]", help="Publish a container port on the machine.",
        **_repeatable("publish")),
    arg("-P", "--publish-all", action="store_true", help="Publish every EXPOSEd port on a free port of the machine."),
    arg("-d", "--detach", action="store_true", help="Run in the background and print the container ID."),
    arg("--name", help="Container ID to use."),
    arg("-m", "--memory", metavar="SIZE", help="Memory limit (e.g. 512m, 2g), as the container's cgroup sets it."),
    arg("--pids-limit", type=int, default=0, help="How many processes the container may have (0: no limit)."),
    arg("image"),
    arg("command", nargs=argparse.REMAINDER, help="The command and its arguments (default: the image's)."),
)
def run(a):
    """Run a command in a new container from IMAGE (with runc)."""
    from distill.api import isolate, parse_size, published_ports
    from distill.api import run as do_run

    if not a.detach:  # a detached container's mount outlives this process, until `distill stop`
        isolate()
    network = "private" if a.network in ("default", "bridge") else a.network
    ports = published_ports(_store(a), a.image, a.publish, a.publish_all, network)
    for p in ports:
        print(f"published {p}", file=sys.stderr)
    try:
        memory = parse_size(a.memory) if a.memory else 0
    except ValueError:
        raise DistillError(f"invalid memory size {a.memory!r}: expected a number with an optional unit (512m, 2g)")
    result = do_run(_store(a), a.image, a.command, a.env, a.workdir, a.user, a.entrypoint, network, a.detach,
                    a.interactive, a.name, a.tty, ports, memory, a.pids_limit)
    if a.detach:
        print(result)
    else:
        sys.exit(result)


@command(arg("ids", nargs="+"), arg("-t", "--time", dest="timeout", type=float, default=10))
def stop(a):
    """Stop containers started with `distill run -d`."""
    from distill.api import stop as do_stop

    store = _store(a)
    for cid in a.ids:
        do_stop(store, cid, a.timeout)
        print(cid)


@command(arg("cid"))
def logs(a):
    """Print the output of a detached container."""
    from distill.api import logs as do_logs

    sys.stdout.buffer.write(do_logs(_store(a), a.cid))


def _top_parser() -> _Parser:
    summaries = "\n".join(f"  {name:<10} {fn.__doc__.splitlines()[0]}" for name, (fn, _) in _COMMANDS.items())
    p = _Parser(prog="distill",
                description="distill: a daemonless multi-stage container image builder and analyser.",
                epilog=f"commands:\n{summaries}\n\n'distill COMMAND --help' tells a command's flags.")
    p.add_argument("--root", default=os.environ.get("DISTILL_ROOT"), metavar="DIR",
                   help="Store directory (default /var/lib/distill as root, ~/.local/share/distill otherwise; "
                        "also DISTILL_ROOT).")
    p.add_argument("--version", action=_Version)
    p.add_argument("command", nargs="?", choices=_COMMANDS, metavar="COMMAND", help="one of the commands below")
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def parse_command(argv: list[str]):
    """The handler a command line names, and its flags. Usage errors exit 2 with one line."""
    parser = _top_parser()
    top = parser.parse_args(argv)
    if top.command is None:
        parser.print_help(sys.stderr)
        sys.exit(2)
    handler, specs = _COMMANDS[top.command]
    p = _Parser(prog=f"distill {top.command}", description=handler.__doc__)
    for names, kw in specs:
        p.add_argument(*names, **kw)
    a = p.parse_args(top.args)
    a.root = top.root
    return handler, a


def main(argv: list[str] | None = None) -> None:
    # A build holds tens of thousands of long-lived objects (a few per context file); at
    # the default threshold (700) the collector scans them hundreds of times, ~0.1 s of
    # a 20,000-file edit rebuild. Cycles are rare here and the process is short.
    gc.set_threshold(50_000, 20, 100)
    handler, a = parse_command(sys.argv[1:] if argv is None else argv)
    try:
        handler(a)
    except DistillError as e:
        print("distill: error: " + " | ".join(str(e).splitlines()), file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("distill: interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as e:
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"distill: error: {e.strerror or e}{where}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
