"""The analyser's commands: lint, check, size, compare, sbom, scan, report; and fsck and db,
which keep the store and the vulnerability database sound."""

from __future__ import annotations

import os
import sys

from distill.errors import DistillError, printable
from distill.cli.commands import (
    print_json,
    quick_exit,
    refuse,
    argparse,
    arg,
    command,
    repeatable,
    positive_int,
    store_of,
    INSECURE,
    PLATFORM,
    reach_of,
    read_file,
    STAGE,
    write_report,
)


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
            text = sys.stdin.buffer.read() if dockerfile == "-" else read_file(dockerfile, "Dockerfile ")
            sources[dockerfile] = text
            findings += lint_text(text, dockerfile, context, a.target, tuple(a.ignore), a.shellcheck, store=store)
            threshold = threshold or lint_config(dockerfile, context)["threshold"]
    except DistillError as e:
        refuse(e, 2)
    from distill.api import lint_shellcheck_available

    if a.shellcheck and not lint_shellcheck_available():
        print("distill: note: shellcheck is not installed: RUN scripts were not checked (apt-get install "
              "shellcheck)", file=sys.stderr)
    if a.fmt == "json":
        print_json(findings)
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
    quick_exit(1 if any(order.index(f["severity"]) <= limit for f in findings) else 0)


@command(
    arg("image", nargs="?"),
    arg("--format", dest="fmt", choices=["text", "json", "sarif"], default="text"),
    arg("--run", nargs="?", const="3", default=None, metavar="SECONDS",
        help="Also start it under runc, no network, for SECONDS (default 3): a start that fails makes the verdict "
             "'will NOT start (confirmed by running)'."),
    STAGE,
    INSECURE,
    PLATFORM,
)
def check(a):
    """Will the image start? Exit 0: it will; 1: it will not; 2: it could not be checked."""
    from distill.api import check as do_check

    try:
        seconds = _run_seconds(a)
        report = do_check(store_of(a), a.image, a.stage, reach_of(a))
        if seconds is not None:
            from distill.api import try_start

            report["run"] = try_start(store_of(a), a.image, seconds)
            if not report["run"]["started"] and report["verdict"] == "ok":  # what happened outweighs the reading
                report["verdict"], report["confirmed_by_run"] = "fail", True
    except DistillError as e:
        refuse(e, 2)
    if a.fmt == "json":
        print_json(report)
    elif a.fmt == "sarif":
        from distill.api import check_sarif

        print_json(check_sarif(report, a.image))
    else:
        dockerfile = _shown_path(report.get("dockerfile") or "Dockerfile")
        for f in report["findings"]:
            where = f" [{f['stage']}" + (f", {dockerfile}:{f['line']}" if f.get("line") else "") + "]" if f.get(
                "stage") else ""
            print(f"{f['severity']}: {f['rule']}: {printable(f['message'])}{where}")
        if report.get("python"):
            py = report["python"]
            real = f" → {py['real']}" if py["real"] != py["executable"] else ""
            venv = f", virtual environment {py['venv']}" if py["venv"] else ""
            print(printable(f"python: {py['executable']}{real} (Python {py['version'] or '?'}{venv}); sys.path: "
                            f"{', '.join(py['sys_path']) or '-'}"))
        verdict = "will start" if report["verdict"] == "ok" else "will NOT start"
        print(f"{a.image}: {verdict}" + (" (confirmed by running)" if report.get("confirmed_by_run") else ""))
        if "run" in report:
            run = report["run"]
            said = (f"still running after {seconds:g} s" if run["exit_code"] is None else f"exited {run['exit_code']}")
            print(f"run: {'started' if run['started'] else 'did not start'} ({said})")
            for line in [] if run["started"] else run["stderr"]:
                print(f"  {line}")
    sys.exit(0 if report["verdict"] == "ok" else 1)


def _run_seconds(a) -> float | None:
    """--run's SECONDS; `check --run IMAGE` gave --run the image (its value is optional)."""
    if a.image is None:
        if a.run is None or a.run == "3":
            raise DistillError("check needs an IMAGE")
        a.image, a.run = a.run, "3"
    if a.run is None:
        return None
    try:
        return float(a.run)
    except ValueError:
        raise DistillError(f"--run {a.run!r}: SECONDS is a number") from None


def _shown_path(path: str) -> str:
    """A recorded Dockerfile path, relative to here when it is below."""
    import os

    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


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
    arg("--top", type=positive_int, default=10, help="How many of the largest files, directories and wasted "
                                                       "paths to list (default 10)."),
    arg("--max-size", type=_size_arg, metavar="SIZE", help="Fail (exit 1) when the image is larger (as 500MB)."),
    arg("--max-wasted", type=_size_arg, metavar="SIZE", help="Fail when more bytes than this are wasted."),
    arg("--max-wasted-percent", type=float, metavar="PERCENT",
        help="Fail when more than this percentage of the files' bytes is wasted."),
    arg("--min-efficiency", type=_ratio, metavar="RATIO", help="Fail below this efficiency (0.95, or 95%%)."),
    STAGE,
    INSECURE,
    PLATFORM,
)
def size(a):
    """Where an image's bytes are, layer by layer, and which of them later layers hide
    (wasted). Exit 0; 1 when a --max/--min gate is crossed; 2 when it could not be read."""
    from distill.api import size as measure
    from distill.cli.format import size as human

    try:
        report = measure(store_of(a), a.image, a.stage, a.top, reach_of(a))
    except DistillError as e:
        refuse(e, 2)
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
        print_json({**report, "failed": crossed})
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
        created = printable(" ".join(l["created_by"].split()))
        created = created if len(created) <= 60 else created[:57] + "..."
        print(f"{i:<6}{human(l['size']):>9}{human(l['files']):>9}{human(l['wasted_bytes']):>9}  "
              f"{(l['stage'] or '-'):<12}{(l['line'] or '-'):>5}  {created}")
    for title, rows, key in (("largest files", r["largest"], "size"), ("largest directories", r["largest_dirs"], "size"),
                             ("wasted (hidden by a later layer)", r["wasted"], "bytes")):
        if rows:
            print(f"{title}:")
            for row in rows:
                where = f"  (layer {', '.join(str(c['layer']) for c in row['copies'])})" if "copies" in row else ""
                print(f"  {human(row[key]):>9}  {printable(row['path'])}{where}")
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
    PLATFORM,
)
def compare(a):
    """Two images side by side: sizes, files only in one or changed by directory, packages
    only in one. With --stages, a build's image against each of its builder stages."""
    from distill.api import compare as compare_images
    from distill.api import compare_stages
    from distill.cli.format import size as human

    if a.stages != (len(a.images) == 1) or len(a.images) > 2:
        raise DistillError("compare takes two images, or one with --stages")
    report = compare_stages(store_of(a), a.images[0]) if a.stages else \
        compare_images(store_of(a), a.images[0], a.images[1], reach_of(a))
    if a.fmt == "json":
        print_json(report)
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
    PLATFORM,
)
def sbom(a):
    """The packages an image holds (dpkg, apk, Python, npm), with package URLs, licences
    and the layer, stage and Dockerfile line that brought each."""
    from distill.api import sbom as make_sbom

    text = make_sbom(store_of(a), a.image, a.fmt, a.stage, a.files, reach_of(a))
    if a.output:
        write_report(a.output, text)
    else:
        sys.stdout.write(text)


@command(arg("--repair", action="store_true", help="Remove what is broken (never a sound object), so the next "
                                                     "build or pull makes it again."))
def fsck(a):
    """Verify the store: every blob against its digest, every name's manifest and what it
    references, build records, the step cache, unpacked snapshots. Exit 0 when sound."""
    from distill.api import fsck as check_store

    store = store_of(a)
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
                                            "default Debian and PyPI). Repeatable.", **repeatable("ecosystems")),
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
            done = db_update(store_of(a), a.ecosystems or ["Debian", "PyPI"], a.source)
        elif not a.paths:
            raise DistillError("db import needs at least one PATH (an OSV all.zip or a directory of OSV JSON)")
        else:
            done = db_import(store_of(a), a.paths)
        print(f"imported {done['records']} records: " +
              ", ".join(f"{eco} {n}" for eco, n in done["ecosystems"].items()))
        return
    st = db_status(store_of(a))
    if st is None:
        print("no vulnerability database yet: `distill db import PATH` or `distill db update` makes one")
        return
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
    PLATFORM,
)
def scan(a):
    """Match the image's packages against the local OSV database (distill db), offline."""
    from distill.api import scan as do_scan
    from distill.api import scan_ignores

    ignore = scan_ignores(a.ignore_file) if a.ignore_file else set()
    result = do_scan(store_of(a), a.image, a.stage, ignore, a.ignore_unfixed, reach_of(a), a.stages)
    found = result["findings"]
    if a.fmt == "json":
        print_json({k: v for k, v in result.items() if k != "components"})
    elif a.fmt == "cyclonedx-json":
        from distill.api import scan_cyclonedx

        print(scan_cyclonedx(result))
    elif a.fmt == "sarif":
        from distill.api import scan_sarif

        print_json(scan_sarif(result))
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
    PLATFORM,
)
def report(a):
    """One HTML page about an image, readable offline: a treemap of its files by size and
    layer, its layers and waste, what its build kept out, whether it will start, lint."""
    from distill.api import report as make_report

    write_report(a.output, make_report(store_of(a), a.image, reach_of(a)))
    print(f"wrote {a.output}", file=sys.stderr)




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
            print(f"  {human(g['bytes']):>9}  {printable(g['path'])}  ({g['count']} entries)")
    for eco, d in r["packages"].items():
        print(f"{eco} packages: {d['count_a']} in A, {d['count_b']} in B")
        for key, title in (("only_a", "only in A"), ("only_b", "only in B")):
            if d[key]:
                names = list(d[key])
                print(f"  {title} ({len(names)}): {printable(', '.join(names[:12]))}{', ...' if len(names) > 12 else ''}")
        if d["changed"]:
            print(f"  other versions: {printable(', '.join(f'{n} {va} -> {vb}' for n, (va, vb) in d['changed'].items()))}")


def _print_stages(r: dict, human) -> None:
    print(f"{r['image']}: {human(r['size'])} in {r['layers']} layers")
    if not r["stages"]:
        print("no builder stages: a single-stage build")
    for st in r["stages"]:
        kept = st["kept_out"]
        print(f"stage {st['stage']}: {human(st['size'])} in {st['layers']} layers; kept out of the image: "
              f"{human(kept['bytes'])} in {kept['count']} entries")
        for g in kept["groups"][:5]:
            print(f"  {human(g['bytes']):>9}  {printable(g['path'])}  ({g['count']} entries)")
        for eco, names in st["packages_kept_out"].items():
            listed = list(names)
            print(f"  {eco} packages kept out ({len(listed)}): {printable(', '.join(listed[:12]))}"
                  f"{', ...' if len(listed) > 12 else ''}")
