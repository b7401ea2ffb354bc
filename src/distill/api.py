"""The Python API: what the CLI calls. Each function opens what it needs and returns data."""

from __future__ import annotations

import io
import os
import sys

from distill import platform as platforms
from distill.image.oci import reference
from distill.config import new_config
from distill.errors import DistillError
from distill.fs.files import write_text
from distill.image.store.images import from_descriptor, lookup, store_name, write_image
from distill.record import Record
from distill.image.store import Store


def open_store(root: str | None = None) -> Store:
    return Store(root)


def connect(domain: str, insecure_registries: tuple[str, ...] = ()):
    from distill.image.registry.client import Registry

    return Registry(domain, insecure=domain in insecure_registries)


# ---- registry ---------------------------------------------------------------
def pull(store: Store, text: str, platform: str | None = None, insecure: tuple[str, ...] = (), progress=None):
    from distill.image.registry.pull import pull as _pull

    ref = reference.parse(text)
    with connect(ref.domain, insecure) as reg:
        return _pull(store, reg, ref, platforms.parse(platform), progress)


def push(store: Store, src: str, dest: str | None = None, insecure: tuple[str, ...] = (), chunk_size: int | None = None,
         progress=None):
    from distill.image.registry.push import CHUNK_THRESHOLD
    from distill.image.registry.push import push as _push

    image = lookup(store, src)
    dest_ref = reference.parse(dest or src)
    with connect(dest_ref.domain, insecure) as reg:
        return _push(store, reg, image, dest_ref, chunk_size or CHUNK_THRESHOLD, progress)


# ---- local images ------------------------------------------------------------
class ImageRow(Record):
    repository: str
    tag: str
    id: str
    created: str
    size: int
    digest: str


def images(store: Store) -> list[ImageRow]:
    """Every image with its size as docker counts it: the layers' tars, uncompressed."""
    from distill.image.layers.blob import uncompressed_size

    rows = []
    for name, desc in store.tags() + [(None, d) for d in store.untagged()]:
        try:
            img = from_descriptor(store, desc, name)
        except DistillError:
            continue
        ref = reference.parse(name) if name else None
        rows.append(ImageRow(ref.familiar_repository if ref else "<none>", (ref.tag if ref else None) or "<none>",
                             img.config_digest, img.config.get("created", ""),
                             sum(uncompressed_size(store, d, i) for d, i in zip(img.layers, img.diff_ids)),
                             desc["digest"]))
    return sorted(rows, key=lambda r: r.created, reverse=True)  # newest first, as docker lists them


def inspect(store: Store, text: str, platform: str | None = None) -> dict:
    img = lookup(store, text, platforms.parse(platform) if platform else None)
    return {"Name": img.name, "Id": img.config_digest, "Digest": img.manifest_digest,
            "Manifest": img.manifest, "Config": img.config}


def history(store: Store, text: str) -> list[dict]:
    """Newest first, as `docker history`: each entry with the layer it made (if any)."""
    img = lookup(store, text)
    layers = list(img.layers)
    rows = []
    for h in img.config.get("history") or []:
        layer = None
        if not h.get("empty_layer") and layers:
            layer = layers.pop(0)
        rows.append({**h, "size": layer["size"] if layer else 0, "layer": layer["digest"] if layer else None})
    return list(reversed(rows))


def tag(store: Store, src: str, dst: str) -> str:
    img = lookup(store, src)
    name = store_name(dst)
    store.set_tag(name, img.descriptor)
    return name


def rmi(store: Store, text: str) -> list[str]:
    """Untag `text`; given an image ID, untag every name of that image."""
    img = lookup(store, text)
    try:
        by_name = store_name(text) == img.name
    except DistillError:
        by_name = False
    names = [img.name] if by_name else [n for n, d in store.tags() if from_descriptor(store, d).config_digest == img.config_digest]
    for n in names:
        store.remove_tag(n)
    if not by_name:
        for d in store.untagged():
            if from_descriptor(store, d).config_digest == img.config_digest:
                store.remove_untagged(d["digest"])
                names.append(f"<none>@{d['digest']}")
    return names


def prune(store: Store, cache: bool = False, keep_storage: int | None = None) -> tuple[int, int]:
    """Unnamed images and unreachable blobs; the build cache's layers are kept unless
    `cache` asks to drop the build cache too, or `keep_storage` bounds it (bytes, the
    newest records kept). Returns (blobs removed, bytes)."""
    from distill.upkeep.gc import prune as prune_store

    return prune_store(store, cache, keep_storage)


def collect_cache(store: Store, limit: int | None = None) -> tuple[int, int] | None:
    """What a build does after it made layers (upkeep/gc.py): the cache kept within its bound."""
    from distill.upkeep.gc import collect_cache as collect

    return collect(store, limit)


# ---- making images -----------------------------------------------------------
def import_rootfs(store: Store, stream, name: str | None, platform: str | None = None,
                  created_by: str = "distill import", env: list[str] | None = None,
                  cmd: list[str] | None = None, comment: str | None = None) -> dict:
    """A root filesystem tar (optionally compressed) becomes a one-layer image."""
    from distill.image.layers.blob import import_tar
    from distill.image.layers.compress import decompressed, sniff

    plat = platforms.parse(platform)
    with store.writing():
        head = _read_some(stream, 4)
        layer = import_tar(store, decompressed(io.BufferedReader(_Prefixed(head, stream), 1 << 20), sniff(head)))
        config = new_config(plat, [layer.diff_id], created_by, comment, env, cmd)
        desc = write_image(store, config, [layer.descriptor])
        if name:
            store.set_tag(store_name(name), desc)
    return desc


def _read_some(stream, n: int) -> bytes:
    data = b""
    while len(data) < n and (chunk := stream.read(n - len(data))):
        data += chunk
    return data


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read put back in front (pipes cannot seek)."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def bootstrap(store: Store, name: str, suite: str = "bookworm", variant: str = "minbase",
              include: list[str] | None = None, mirror: str | None = None, platform: str | None = None,
              log=None) -> dict:
    """A Debian base image from the Debian archive, made by mmdebstrap."""
    plat = platforms.parse(platform)
    ref = reference.parse(name)  # fail on a bad name before spending half a minute
    cmd = ["mmdebstrap", f"--variant={variant}", "--format=tar", f"--architectures={plat.architecture}",
           "--quiet"]
    if include:
        cmd.append("--include=" + ",".join(include))
    cmd += [suite, "-"]
    if mirror:
        cmd.append(mirror)
    import subprocess

    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise DistillError("mmdebstrap is not installed (apt-get install mmdebstrap)") from None
    created_by = " ".join(["distill bootstrap", suite, f"--variant {variant}"] +
                          ([f"--include {','.join(include)}"] if include else []))
    import threading

    err: list[bytes] = []
    t = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    t.start()
    try:
        desc = import_rootfs(store, proc.stdout, None, platform, created_by=created_by, cmd=["bash"],
                             comment=f"debian {suite} {variant}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    rc = proc.wait()
    t.join()
    if rc != 0:
        tail = (err[0] if err else b"").decode(errors="replace").strip().splitlines()[-3:]
        raise DistillError(f"mmdebstrap failed (exit {rc}): {' | '.join(tail)}")
    store.set_tag(str(ref), desc)
    return desc


# ---- archives ----------------------------------------------------------------
def save(store: Store, names: list[str], out_path: str, fmt: str = "docker") -> None:
    from distill.image.archive import save as _save
    from distill.image.archive import save_to_path

    imgs = [(img, img.name) for img in (lookup(store, n) for n in names)]
    if out_path == "-":
        _save(store, imgs, sys.stdout.buffer, fmt)
    else:
        save_to_path(store, imgs, out_path, fmt)


def load(store: Store, path: str):
    from distill.image.archive import load as _load

    return _load(store, path)


# ---- Dockerfiles -----------------------------------------------------------------
def dockerfile_dump(data: bytes, name: str = "Dockerfile") -> tuple[str, tuple[str, ...]]:
    """BuildKit's AST dump of a Dockerfile, and the parser's warnings."""
    from distill.build.dockerfile.parser import parse

    result = parse(data, name)
    return result.dump(), tuple(result.warnings)


def dockerfile_plan(data: bytes, name: str = "Dockerfile", build_args: dict | None = None, target: str | None = None,
                    platform: str | None = None):
    """The plan a build would follow (plan.Plan; .to_json() prints it), without base images."""
    from distill.build.dockerfile.parser import parse
    from distill.build.plan import make_plan

    return make_plan(parse(data, name), build_args or {}, target, platforms.parse(platform) if platform else None,
                     path=name)


def human_size(n: int) -> str:
    """A size as docker prints one (244MB)."""
    from distill.units import human

    return human(n)


def parse_size(text: str) -> int:
    """A size as people write it (10GB, 1.5k; 1024-based, as docker); ValueError if not one."""
    from distill.units import parse_size as parse

    return parse(text)


def parse_output(text: str):
    """A --output spec (type=oci|docker|local|registry[,dest=PATH], or a bare PATH)."""
    from distill.build.outputs import parse_output as parse

    return parse(text)


# ---- reading images ------------------------------------------------------------------
def image_fs(store: Store, text: str, stage: str | None = None, insecure: tuple[str, ...] = ()):
    """(imagefs.ImageFS, imagefs.Attribution) of an image, or of one of its build's
    stages: its filesystem read from the layers, never unpacked. `text` names an image in
    the store; an archive (a file, or `oci-archive:PATH` / `docker-archive:PATH` as skopeo
    names them); or an image in a registry (`docker://REF`, or a reference the store
    lacks). An archive of one image is read in place (imagefs/archive.py); blobs a
    registry (or an archive read otherwise) brings are kept in the store, unnamed, so a
    second look reads them there; hold store.writing() while reading them."""
    from distill.image.imagefs import open_image

    archive = _archive_path(text)
    if archive is not None and stage is None:
        from distill.image.imagefs import Attribution, ImageFS
        from distill.image.imagefs.archive import open_archive

        opened = open_archive(archive)
        if opened is not None:
            image, blobs = opened
            return ImageFS(store, image.layers, image.diff_ids, image.config, image.name or archive, blobs), \
                Attribution(image, None)
    return open_image(store, _source_image(store, text, insecure), stage)


def _archive_path(text: str) -> str | None:
    for prefix in ("oci-archive:", "docker-archive:"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text if os.path.isfile(text) else None


def _source_image(store: Store, text: str, insecure: tuple[str, ...]):
    from distill.errors import NotFound

    archive = _archive_path(text)
    if archive is not None:
        return _archive_image(store, archive)
    if text.startswith("docker://"):
        return _registry_image(store, text[len("docker://"):], insecure)
    try:
        return lookup(store, text)
    except NotFound:
        return _registry_image(store, text, insecure)


def _archive_image(store: Store, path: str):
    from distill.image.archive import load as load_archive

    found = load_archive(store, path, tag=False)
    if len(found) != 1:
        names = ", ".join(n or d["digest"] for n, d in found) or "none"
        raise DistillError(f"{path}: holds {len(found)} images ({names}); save one image to read it")
    name, desc = found[0]
    return from_descriptor(store, desc, name or path)


def _registry_image(store: Store, text: str, insecure: tuple[str, ...]):
    from distill.image.registry.pull import fetch

    ref = reference.parse(text)
    try:
        with connect(ref.domain, insecure) as reg:
            desc, _, _ = fetch(store, reg, ref)
    except DistillError as e:
        raise DistillError(f"{text}: not in the store, and its registry did not give it: {e}") from None
    return from_descriptor(store, desc, str(ref))


def check(store: Store, text: str, stage: str | None = None, insecure: tuple[str, ...] = ()) -> dict:
    """Will the image start? {"verdict": "ok"|"fail", "findings": [{rule, severity,
    message, path, stage, line, ...}]} (check/), read from its layers, never run."""
    from distill.analyze.check import check as check_image

    with store.writing():
        fs, who = image_fs(store, text, stage, insecure)
        # a stage is checked on its own: the record's other stages are the final image's
        return check_image(store, fs, who.image, who.record if stage is None else None)


def size(store: Store, text: str, stage: str | None = None, top: int = 10, insecure: tuple[str, ...] = ()) -> dict:
    """Where the image's bytes are and which are wasted (size.py): totals, each layer with
    the stage and Dockerfile line (or history entry) that made it, the largest files and
    directories, and for a build, what each COPY --from brought."""
    from distill.analyze.size import measure

    with store.writing():
        fs, who = image_fs(store, text, stage, insecure)
        sizes = _layer_sizes(fs)
        return measure(fs, who, sizes, top)


def compare(store: Store, a: str, b: str, insecure: tuple[str, ...] = ()) -> dict:
    """Two images side by side (compare.py): sizes, layers, files only in one or changed,
    by directory, and packages only in one (dpkg, apk, Python)."""
    from distill.analyze.compare import compare as compare_images
    from distill.analyze.packages import installed

    with store.writing():
        fa, _ = image_fs(store, a, None, insecure)
        fb, _ = image_fs(store, b, None, insecure)
        return compare_images(fa, fb, _size_of(fa), _size_of(fb), installed(fa), installed(fb))


def compare_stages(store: Store, text: str) -> dict:
    """The final image against each builder stage of the build that made it: what the
    multi-stage build kept out, in bytes and packages. Needs the build record."""
    from distill.analyze.compare import kept_out
    from distill.image.imagefs import ImageFS, recorded_stage_image
    from distill.analyze.packages import installed

    with store.writing():
        fs, who = image_fs(store, text)
        if who.record is None:
            raise DistillError(f"{text} has no build record: compare --stages needs an image built here")
        builders = []
        for stage in who.record["stages"]:
            if stage.get("target") or not stage.get("image"):
                continue
            image = recorded_stage_image(store, stage, text)
            sfs = ImageFS(store, image.layers, image.diff_ids, image.config, image.name)
            builders.append((stage.get("name") or f"stage-{stage.get('index')}", sfs, _size_of(sfs)))
        return {"image": text, "size": _size_of(fs), "layers": len(fs.layers),
                "stages": kept_out(fs, builders, installed(fs), [installed(b[1]) for b in builders])}


def sbom(store: Store, text: str, fmt: str = "json", stage: str | None = None, files: bool = False,
         insecure: tuple[str, ...] = ()) -> str:
    """The packages the image holds (sbom.py) as `fmt`: json, table, cyclonedx-json or
    spdx-json."""
    from distill.analyze.sbom import catalog, cyclonedx, spdx

    with store.writing():
        fs, who = image_fs(store, text, stage, insecure)
        doc = catalog(fs, who, files or fmt == "json")
    if fmt == "cyclonedx-json":
        return cyclonedx(text, who.image.config_digest, doc)
    if fmt == "spdx-json":
        return spdx(text, who.image.config_digest, doc)
    if fmt == "table":
        rows = [f"{'NAME':<40}{'VERSION':<32}{'TYPE':<8}{'LAYER':>6}  STAGE:LINE"]
        for c in doc["components"]:
            where = f"{c['stage']}:{c['line']}" if c.get("stage") else ("base" if c.get("layer") is not None else "")
            rows.append(f"{c['name']:<40}{c['version']:<32}{c['type']:<8}{c['layer'] if c['layer'] is not None else '-':>6}"
                        f"  {where}")
        return "\n".join(rows) + "\n"
    import json

    return json.dumps({"image": text, **doc}, indent=2) + "\n"


def fsck(store: Store, repair: bool = False) -> list[str]:
    """The store's problems, a line each (upkeep/fsck.py); with `repair`, what is broken
    is removed and each line says so."""
    from distill.upkeep.fsck import fsck as check_store

    return check_store(store, repair)


def db_import(store: Store, sources: list[str]) -> dict:
    """Loads OSV records (all.zip files or directories of OSV JSON) into the store's
    vulnerability database, replacing it whole."""
    from distill.analyze.vuln.db import import_osv

    return import_osv(store, sources)


def db_update(store: Store, ecosystems: list[str], source: str | None = None) -> dict:
    """Downloads each ecosystem's OSV export (all.zip) and imports them."""
    from distill.analyze.vuln.db import OSV_EXPORT, download, import_osv

    return import_osv(store, download(store, ecosystems, source or OSV_EXPORT))


def db_status(store: Store) -> dict:
    from distill.analyze.vuln.db import Database

    db = Database(store)
    try:
        return db.status()
    finally:
        db.close()


def scan(store: Store, text: str, stage: str | None = None, ignore: set[str] = frozenset(),
         ignore_unfixed: bool = False, insecure: tuple[str, ...] = (), stages: bool = False) -> dict:
    """The image's packages matched against the local OSV database (vuln/): {"image",
    "distro", "findings": [{id, aliases, package, installed, fixed, severity, summary,
    ecosystem, source, layer, stage, line}], "packages": N}. With `stages` (a build's
    image), each builder stage is scanned too: "builder_only" lists what its stages hold
    and the image does not ship, {"stage": [...findings]}."""
    from distill.image.imagefs import Attribution, ImageFS, recorded_stage_image
    from distill.analyze.sbom import catalog, os_release
    from distill.analyze.vuln.db import Database
    from distill.analyze.vuln.scan import keep, match

    db = Database(store)

    def scan_fs(fs, who):
        doc = catalog(fs, who)
        return doc, keep(match(doc["components"], os_release(fs), db), set(ignore), ignore_unfixed)

    try:
        with store.writing():
            fs, who = image_fs(store, text, stage, insecure)
            doc, findings = scan_fs(fs, who)
            out = {"image": text, "distro": doc["distro"], "packages": len(doc["components"]), "findings": findings,
                   "dockerfile": ((who.record or {}).get("dockerfile") or {}).get("path"),
                   "config_digest": who.image.config_digest, "components": doc["components"]}
            if stages:
                if who.record is None:
                    raise DistillError(f"{text} has no build record: scan --stages needs an image built here")
                shipped = {(f["id"], f["package"], f["installed"]) for f in findings}
                out["builder_only"] = {}
                for st in who.record["stages"]:
                    if st.get("target") or not st.get("image"):
                        continue
                    image = recorded_stage_image(store, st, text)
                    sfs = ImageFS(store, image.layers, image.diff_ids, image.config, image.name)
                    _, found = scan_fs(sfs, Attribution(image, who.record))
                    name = st.get("name") or f"stage-{st.get('index')}"
                    out["builder_only"][name] = [f for f in found
                                                 if (f["id"], f["package"], f["installed"]) not in shipped]
    finally:
        db.close()
    return out


def scan_cyclonedx(result: dict) -> str:
    """A scan as CycloneDX 1.6: the SBOM with its vulnerabilities."""
    from distill.analyze.sbom import cyclonedx

    return cyclonedx(result["image"], result["config_digest"], {"components": result["components"]},
                     result["findings"])


def scan_sarif(result: dict) -> dict:
    from distill.analyze.vuln.scan import as_sarif

    return as_sarif(result)


def scan_fails(findings: list[dict], threshold: str | None) -> bool:
    from distill.analyze.vuln.scan import fails

    return fails(findings, threshold)


def scan_ignores(path: str) -> set[str]:
    from distill.analyze.vuln.scan import ignored_ids

    try:
        with open(path, encoding="utf-8") as f:
            return ignored_ids(f.read())
    except OSError as e:
        raise DistillError(f"{path}: {e.strerror}") from None


def report(store: Store, text: str, insecure: tuple[str, ...] = ()) -> str:
    """The HTML report of an image (report/): its filesystem's treemap, layers and waste,
    what its build kept out of it, the start check, its packages, the vulnerabilities the
    local database knows of (when there is one), and the lint findings of its build's
    Dockerfile when that file is still where the build read it."""
    from distill.analyze.report import render, tree_data
    from distill.analyze.sbom import catalog
    from distill.analyze.size import measure
    from distill.analyze.vuln.db import db_path

    with store.writing():
        fs, who = image_fs(store, text, None, insecure)
        sizes = _layer_sizes(fs)
        data = {"image": text, "size": measure(fs, who, sizes, 15), "tree": tree_data(fs),
                "sbom": catalog(fs, who)["components"]}
    data["check"] = check(store, text, None, insecure)
    if os.path.exists(db_path(store)):
        data["scan"] = scan(store, text, insecure=insecure)["findings"]
    if who.record is not None:
        data["stages"] = compare_stages(store, text)
        data["lint"] = _record_lint(who.record)
    return render(data)


def _record_lint(record: dict) -> list | None:
    """Lint findings of the Dockerfile a build record names, if it is there unchanged."""
    from distill.digest import of_bytes

    path = (record.get("dockerfile") or {}).get("path")
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        text = f.read()
    if of_bytes(text) != record["dockerfile"].get("digest"):
        return None
    return lint_text(text, path, record.get("context"), None, shellcheck=False)


def _size_of(fs) -> int:
    return sum(_layer_sizes(fs))


def _layer_sizes(fs) -> list[int]:
    """Each layer's uncompressed tar size, as docker counts an image's size."""
    return [fs.blobs.uncompressed_size(d, i) for d, i in zip(fs.layers, fs.diff_ids)]


def lint_text(text: bytes, path: str, context: str | None, target: str | None = None, ignore: tuple[str, ...] = (),
              shellcheck: bool = True, built_only: bool = False, store: Store | None = None,
              parsed=None) -> list[dict]:
    """A Dockerfile's lint findings (lint/): [{rule, aliases, severity, line, column,
    message, file}], by line, with the configuration lint_config() finds; `context`, when
    given, adds the context's rules, `store` tells the base images' ENV and platform;
    `parsed`, the text's syntax tree when the caller has it. ShellCheck starts first: the
    configuration, the context and the store are read while it runs."""
    from distill.analyze.lint import base_facts, context_facts, finish, prepare
    from distill.platform import host

    prepared = prepare(text, path, shellcheck, parsed)
    config = lint_config(path, context)
    facts = context_facts(context) if context and os.path.isdir(context) else None
    bases = base_facts(store, prepared.result.nodes) if store is not None else None
    return finish(prepared, target, tuple(ignore) + tuple(config["ignore"]), facts, config["override"],
                  config["trusted"], built_only, bases, f"linux/{host().architecture}", config["labels"],
                  config["strict_labels"], config["pragmas"])


def build_lint(options, store: Store | None = None) -> list[dict]:
    """The warnings a build prints, as BuildKit does: lint's errors and warnings about the
    stages it builds (no ShellCheck: a build should not wait for it), from the syntax
    tree the build planned from (build_options())."""
    findings = lint_text(options.dockerfile, options.dockerfile_path, options.context, options.target,
                         shellcheck=False, built_only=True, store=store, parsed=options.syntax())
    return [f for f in findings if f["severity"] in ("error", "warning") and f["rule"] != "empty-continuation"]


def lint_config(dockerfile: str | None, context: str | None = ".") -> dict:
    """The lint configuration found beside the Dockerfile, in the context or here
    (.hadolint.yaml, pyproject.toml's [tool.distill.lint], .distill.toml; lint/config.py)."""
    path = dockerfile or os.path.join(context or ".", "Dockerfile")
    return _lint_config(tuple([os.path.dirname(path) or "."] + ([context] if context else []) + ["."]))


_lint_configs: dict = {}


def _lint_config(dirs: tuple[str, ...]) -> dict:
    """The configuration of these directories, read again only when one of its files
    changed (lint and the command line's threshold both ask)."""
    from distill.analyze.lint.config import NAMES, load

    key = (dirs, tuple(_mtime(os.path.join(d, n)) for d in dirs for n in NAMES))
    if key not in _lint_configs:
        _lint_configs[key] = load(list(dirs))
    return _lint_configs[key]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def existing_store(root: str | None = None) -> Store | None:
    """The store at `root` (or the default) if there is one: reading must not make one."""
    from distill.image.store.layout import default_root

    path = root or default_root()
    return Store(path) if os.path.isdir(path) else None


def lint_format(findings: list[dict], fmt: str, path: str) -> str:
    """Lint findings as sarif, checkstyle, gitlab (code quality) or junit text."""
    from distill.analyze.lint.formats import FORMATS, as_junit

    return as_junit(findings, path) if fmt == "junit" else FORMATS[fmt](findings)


def lint_shellcheck_available() -> bool:
    """Whether lint can run ShellCheck on RUN scripts (the `shellcheck` program is here)."""
    from distill.analyze.lint import shellcheck_available

    return shellcheck_available()


def lint_source_line(text: bytes, line: int) -> str:
    """One line of a Dockerfile's text (for showing a finding), or ""."""
    lines = text.split(b"\n", line)
    return lines[line - 1].decode("utf-8", "replace").rstrip("\r") if 0 < line <= len(lines) else ""


def check_sarif(report: dict, image: str) -> dict:
    """A check() report as SARIF 2.1.0."""
    from distill.analyze.check.sarif import sarif

    return sarif(report, image)


def try_start(store: Store, text: str, seconds: float = 3) -> dict:
    """Starts the image under runc with no network for `seconds`, to confirm a verdict:
    {"started": still running then or exited 0, "exit_code": None while running,
    "stderr": its last lines}. The static verdict never depends on it."""
    import signal
    import subprocess

    cmd = [sys.executable, "-m", "distill", "--root", store.root, "run", "--network", "none", text]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        code = None
        proc.send_signal(signal.SIGINT)  # `distill run` stops and removes its container
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    tail = proc.stderr.read().decode("utf-8", "replace").splitlines()[-10:]
    proc.stderr.close()
    return {"started": code in (None, 0), "exit_code": code, "stderr": tail}


def ls(store: Store, text: str, path: str = "/", recursive: bool = False, stage: str | None = None,
       insecure: tuple[str, ...] = ()) -> list[dict]:
    """What `ls` inside the image shows at `path` (everything below it with `recursive`):
    one dict per entry with path, type, mode, uid, gid, size, target, layer, and the
    stage, line and instruction that wrote it where the build record knows them."""
    from distill.image.imagefs import TYPES

    with store.writing():  # what a registry or an archive brought stays until this ends
        fs, who = image_fs(store, text, stage, insecure)
    node = fs.stat(path, follow=True)
    if node is None:
        raise DistillError(f"{path}: no such file or directory in {text}")
    top = "/" + "/".join(p for p in path.split("/") if p)
    if node.type != "5":
        entries = [(top, fs.stat(path, follow=False))]
    elif recursive:
        entries = [(p, n) for p, n in fs.walk(top) if p != top]
    else:
        entries = [(f"{top.rstrip('/')}/{name}", node.children[name]) for name in sorted(node.children)]
    rows = []
    for p, n in entries:
        inode = n.inode
        made = who.of(n.layer)
        mode = 0o777 if inode.type == "2" else inode.mode  # as the kernel shows every symlink
        rows.append({"path": p, "type": TYPES.get(n.type, n.type), "mode": mode, "uid": inode.uid,
                     "gid": inode.gid, "size": inode.size if inode.type == "0" else 0,
                     "target": n.linkname or None, "layer": n.layer if n.layer >= 0 else None,
                     "stage": made.get("stage"), "line": made.get("line"), "created_by": made.get("created_by")})
    return rows


def export(store: Store, text: str, out_path: str, stage: str | None = None, insecure: tuple[str, ...] = ()) -> int:
    """The image's flattened filesystem as one tar at `out_path` ('-': standard output);
    returns the number of entries."""
    with store.writing():  # what a registry or an archive brought stays until this ends
        return _export(store, text, out_path, stage, insecure)


def _export(store: Store, text: str, out_path: str, stage: str | None, insecure: tuple[str, ...]) -> int:
    from distill.image.imagefs.export import export as write_tar

    fs, _ = image_fs(store, text, stage, insecure)
    if out_path == "-":
        return write_tar(fs, sys.stdout.buffer)
    from distill.fs.atomic import temp_file

    directory = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = temp_file(directory, ".distill-export-")
    try:
        with open(fd, "wb", buffering=1 << 20) as f:
            count = write_tar(fs, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        os.unlink(tmp)
        raise
    return count


# ---- containers ------------------------------------------------------------------
def run(store: Store, text: str, command: list[str], env: list[str], workdir: str | None, user: str | None,
        entrypoint: str | None, network: str, detach: bool, interactive: bool, name: str | None, tty: bool,
        ports: list = (), memory: int = 0, pids_limit: int = 0):
    """Runs the image `text` names with runc: the exit code, or with `detach` the
    container's ID. `ports` come from published_ports(); `memory` (bytes) and `pids_limit`
    bound the container's cgroup (0: no limit)."""
    from distill.build.runtime.container import run as run_container
    from distill.upkeep.stale import collect_stale

    collect_stale(store)
    return run_container(store, lookup(store, text), command, env, workdir, user, entrypoint, network, detach,
                         interactive, name, tty, ports, memory, pids_limit)


def isolate() -> bool:
    """This process, from now on, in mount and PID namespaces of its own, so the kernel
    ends its mounts and every process it starts when it ends, however it ends
    (runtime/isolation.py); before any thread starts."""
    from distill.build.runtime.isolation import isolate as enter

    return enter()


def published_ports(store: Store, text: str, specs: list[str], all_exposed: bool, network: str) -> list:
    """docker run's -p specs and -P (the image's EXPOSEd ports), each with its host port
    (a free one where none was given)."""
    from distill.build.runtime.network import assign_host_ports, exposed_ports, parse_port

    ports = [parse_port(p) for p in specs]
    if (ports or all_exposed) and network != "private":
        raise DistillError(f"ports cannot be published with --network {network}")
    if all_exposed:
        asked = {(p.container, p.proto) for p in ports}
        ports += [p for p in exposed_ports(lookup(store, text).config) if (p.container, p.proto) not in asked]
    return assign_host_ports(ports)


def stop(store: Store, cid: str, timeout: float) -> None:
    from distill.build.runtime.container import stop as stop_container

    stop_container(store, cid, timeout)


def logs(store: Store, cid: str) -> bytes:
    from distill.build.runtime.container import logs as container_logs

    return container_logs(store, cid)


# ---- building ------------------------------------------------------------------
def build_options(dockerfile: bytes, **fields):
    """What `build` takes (solver.options.BuildOptions): the Dockerfile's bytes, and
    dockerfile_path, context, build_args, target, no_cache, pull, network, labels,
    platform, insecure, jobs, secrets, ssh, progress, cache_from and cache_to (their
    --cache-from / --cache-to texts)."""
    from distill.build.cache.spec import parse_cache
    from distill.build.solver.options import BuildOptions

    for name, flag in (("cache_from", "--cache-from"), ("cache_to", "--cache-to")):
        fields[name] = tuple(parse_cache(t, flag) for t in fields.get(name, ()))

    return BuildOptions(dockerfile, **fields)


def entitlements(given: list[str]) -> tuple[str, ...]:
    """--allow's values (repeatable, or comma-separated), each one BuildKit knows."""
    from distill.build.solver.entitlements import ENTITLEMENTS

    names = tuple(n.strip() for g in given for n in g.split(",") if n.strip())
    for n in names:
        if n not in ENTITLEMENTS:
            raise DistillError(f"--allow {n}: unknown entitlement (known: {', '.join(ENTITLEMENTS)})")
    return names


def progress(mode: str):
    """BuildKit-shaped progress on stderr: auto, tty, plain or quiet."""
    from distill.progress import Progress

    return Progress(mode)


def build(store: Store, options, tags: list[str] = (), outputs: list = (), iidfile: str | None = None):
    """Build per `options` (build_options()); tag, record how it was built, export, push.
    Returns (BuildResult, manifest descriptor, Image)."""
    from distill.build.outputs import export_local, write_archive

    from distill.upkeep.stale import collect_stale

    names = [store_name(t) for t in tags]  # bad tags fail before any work
    collect_stale(store)  # what builds killed before this one left
    with store.writing():
        result, remote = _build_with_caches(store, options)
        config = result.state.image_config(options.labels)
        if any(spec.type == "inline" for spec in options.cache_to):
            from distill.build.cache.remote import inline_document
            from distill.build.cache.shared import INLINE_KEY

            config[INLINE_KEY] = inline_document(_shared_steps(result), result.memos, result.state.diff_ids)
        desc = write_image(store, config, result.state.layers)
        for name in names:
            current = store.get_tag(name)
            if current is None or current["digest"] != desc["digest"]:
                store.set_tag(name, desc)
        if not names:
            store.add_untagged(desc)
        image = from_descriptor(store, desc, names[0] if names else None)
        _keep_build_record(store, options, result, image)
    for out in outputs:
        if out.type in ("oci", "docker"):
            write_archive(store, image, names, out.type, out.dest)
        elif out.type == "local":
            export_local(store, image, out.dest)
        elif out.type == "registry":
            if not names:
                raise DistillError("--output type=registry needs at least one -t NAME")
            for name in names:
                push(store, name, None, options.insecure)
    for spec in options.cache_to:
        if spec.type != "inline":
            from distill.build.cache.remote import export

            export(store, spec, _shared_steps(result), result.memos, _shipped(result, spec.mode), options.insecure,
                   remote)
    if iidfile:
        write_text(iidfile, image.config_digest)
    if result.executed:  # a no-op wrote nothing, and so has nothing to collect
        try:
            collect_cache(store)
        except OSError:
            pass  # housekeeping: the image is built and stored; the next build or prune tries again
    return result, desc, image


def _build_with_caches(store: Store, options):
    """Builder.build() consulting the --cache-from caches: a layer one of them names that
    cannot be had as named (missing, tampered) drops the records naming it, and the build
    goes again, its own steps so far cached locally. Returns (BuildResult, RemoteCache)."""
    from distill.build.cache.remote import CacheBroken, load
    from distill.build.solver.scheduler import Builder

    def warn(text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)

    remote = load(list(options.cache_from), options.insecure, warn, options.progress) \
        if options.cache_from and not options.no_cache else None
    while True:
        try:
            return Builder(store, options, pull=pull, remote=remote).build(), remote
        except CacheBroken as e:
            if e.layers <= remote.broken:
                raise DistillError(str(e)) from None  # dropped already: never loop
            remote.discard(e.layers, f"{e}; building the steps that made them")


def _shared_steps(result) -> dict:
    """The records --cache-to shares: every step of every stage built (mode=min ships
    only the image's layers; the other records still give later steps their keys)."""
    return {k: r for records in result.records.values() for k, r in records.items()}


def _shipped(result, mode: str) -> set[str]:
    """The diffIDs whose layers a cache of `mode` carries: max, every step's; min, the
    image's own."""
    if mode == "max":
        return {r["diff_id"] for r in _shared_steps(result).values() if r.get("layer")}
    return set(result.state.diff_ids)


def _keep_build_record(store: Store, options, result, image) -> None:
    """The build record, stored as an artifact about the image; each intermediate stage
    stored as an (unnamed, unlisted) image the record refers to, so its files can be read.
    An image that has one keeps it: it says how the image was first made (which steps ran
    for it), and a no-op rebuild writes nothing."""
    from distill.image.oci.mediatypes import BUILD_RECORD
    from distill.image.provenance import build_record, encode
    from distill.image.store.records import attach, entry

    if entry(store, image.manifest_digest, BUILD_RECORD) is not None:
        return

    stage_images, refers_to = {}, []
    for i, state in sorted(result.stages.items()):
        if i == result.plan.target:
            stage_images[i] = {"id": image.config_digest, "manifest": image.manifest_digest}
            continue
        if not all(store.has_blob(layer["digest"]) for layer in state.layers):
            continue  # its steps came from a shared cache, its layers never needed here
        config = state.image_config()
        desc = write_image(store, config, state.layers)
        stage_images[i] = {"id": from_descriptor(store, desc).config_digest, "manifest": desc["digest"]}
        refers_to.append(desc)
    path, context = str(options.dockerfile_path), options.context
    if context is not None:
        context = os.path.abspath(context)
        path = os.path.abspath(path) if os.path.isfile(path) else path
    record = build_record(result.plan, options.replace(dockerfile_path=path, context=context), result.facts,
                          result.bases, stage_images, str(result.state.platform))
    attach(store, image.descriptor, BUILD_RECORD, encode(record), refers_to)


def build_record(store: Store, text: str) -> dict | None:
    """How the image `text` names was built (provenance.py), or None for an image built
    elsewhere (pulled, loaded, imported)."""
    from distill.image.imagefs import build_record_of

    return build_record_of(store, lookup(store, text))
