"""The Python API: what the CLI calls. Each function opens what it needs and returns data."""

from __future__ import annotations

import os
import sys

from distill import platform as platforms
from distill.errors import DistillError
from distill.record import Record

TYPE_CHECKING = False  # not typing's (~2 ms): the store is imported by the commands that use it
if TYPE_CHECKING:
    from distill.image.store import Store


# What the API hands on as it is, by name → (module, name there): imported on first use
# (PEP 562), so a command loads only what it calls. open_store(root) is Store(root);
# isolate() puts this process in mount and PID namespaces of its own (call it before any
# thread starts); progress(mode) is BuildKit-shaped progress on stderr.
_ELSEWHERE = {
    # images
    "open_store": ("distill.image.store", "Store"),
    "pull": ("distill.image.registry.pull", "pull_named"),
    "push": ("distill.image.registry.push", "push_named"),
    "load": ("distill.image.archive", "load"),
    "import_rootfs": ("distill.image.rootfs", "import_rootfs"),
    "bootstrap": ("distill.image.rootfs", "bootstrap"),
    # building
    "build_options": ("distill.build.pipeline", "build_options"),
    "entitlements": ("distill.build.pipeline", "entitlements"),
    "parse_output": ("distill.build.outputs", "parse_output"),
    "progress": ("distill.progress", "Progress"),
    "isolate": ("distill.build.runtime.isolation", "isolate"),
    "become_root": ("distill.build.runtime.userns", "become_root"),
    "in_user_namespace": ("distill.fs", "in_user_namespace"),
    "needs_user_namespace": ("distill.fs", "needs_user_namespace"),
    "CHROOT_ENV": ("distill.fs", "CHROOT_ENV"),
    "Reach": ("distill.image.sources", "Reach"),
    "stop": ("distill.build.runtime.container", "stop"),
    "binfmt": ("distill.build.runtime.binfmt", "command"),
    "logs": ("distill.build.runtime.container", "logs"),
    "ps": ("distill.build.runtime.container", "listing"),
    "rm": ("distill.build.runtime.container", "remove"),
    # analysing
    "lint_text": ("distill.analyze.lint.run", "lint_text"),
    "build_lint": ("distill.analyze.lint.run", "build_lint"),
    "lint_config": ("distill.analyze.lint.run", "lint_config"),
    "lint_format": ("distill.analyze.lint.run", "lint_format"),
    "lint_source_line": ("distill.analyze.lint.run", "lint_source_line"),
    "lint_shellcheck_available": ("distill.analyze.lint", "shellcheck_available"),
    "check_sarif": ("distill.analyze.check.sarif", "sarif"),
    "try_start": ("distill.analyze.check.trial", "try_start"),
    "db_import": ("distill.analyze.vuln.db", "import_osv"),
    "db_status": ("distill.analyze.vuln.db", "status_of"),
    "scan_sarif": ("distill.analyze.vuln.scan", "as_sarif"),
    "scan_fails": ("distill.analyze.vuln.scan", "fails"),
    # upkeep
    "prune": ("distill.upkeep.gc", "prune"),
    "collect_cache": ("distill.upkeep.gc", "collect_cache"),
    "fsck": ("distill.upkeep.fsck", "fsck"),
    # units
    "human_size": ("distill.units", "human"),
    "did_you_mean": ("distill.suggest", "did_you_mean"),
    "rmi": ("distill.image.store.images", "untag"),
    "parse_size": ("distill.units", "parse_size"),
}


def _images():
    """The store's image lookups, imported by the commands that read images (not lint's)."""
    from distill.image.store import images

    return images


def __getattr__(name: str):
    if name not in _ELSEWHERE:
        raise AttributeError(f"module 'distill.api' has no attribute {name!r}")
    import importlib

    module, attr = _ELSEWHERE[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # found once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ELSEWHERE))


# ---- registry ---------------------------------------------------------------
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
            img = _images().from_descriptor(store, desc, name)
        except DistillError:
            continue
        ref = _images().reference.parse(name) if name else None
        rows.append(ImageRow(ref.familiar_repository if ref else "<none>", (ref.tag if ref else None) or "<none>",
                             img.config_digest, img.config.get("created", ""),
                             sum(uncompressed_size(store, d, i) for d, i in zip(img.layers, img.diff_ids)),
                             desc["digest"]))
    return sorted(rows, key=lambda r: r.created, reverse=True)  # newest first, as docker lists them


def inspect(store: Store, text: str, platform: str | None = None) -> dict:
    img = _images().lookup(store, text, platforms.parse(platform) if platform else None)
    return {"Name": img.name, "Id": img.config_digest, "Digest": img.manifest_digest,
            "Manifest": img.manifest, "Config": img.config}


def history(store: Store, text: str) -> list[dict]:
    """Newest first, as `docker history`: each entry with the layer it made (if any)."""
    img = _images().lookup(store, text)
    layers = list(img.layers)
    rows = []
    for h in img.config.get("history") or []:
        layer = None
        if not h.get("empty_layer") and layers:
            layer = layers.pop(0)
        rows.append({**h, "size": layer["size"] if layer else 0, "layer": layer["digest"] if layer else None})
    return list(reversed(rows))


def tag(store: Store, src: str, dst: str) -> str:
    img = _images().lookup(store, src)
    name = _images().store_name(dst)
    store.set_tag(name, img.descriptor)
    return name


# ---- archives ----------------------------------------------------------------
def save(store: Store, names: list[str], out_path: str, fmt: str = "docker") -> None:
    from distill.image.archive import save as _save
    from distill.image.archive import save_to_path

    imgs = [(img, img.name) for img in (_images().lookup(store, n) for n in names)]
    if out_path == "-":
        _save(store, imgs, sys.stdout.buffer, fmt)
    else:
        save_to_path(store, imgs, out_path, fmt)


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


# ---- reading images ------------------------------------------------------------------
def check(store: Store, text: str, stage: str | None = None, reach=None) -> dict:
    """Will the image start? {"verdict": "ok"|"fail", "findings": [{rule, severity,
    message, path, stage, line, ...}]} (check/), read from its layers, never run."""
    from distill.analyze.check import check as check_image

    with store.writing():
        fs, who = image_fs(store, text, stage, reach)
        # a stage is checked on its own: the record's other stages are the final image's
        return check_image(store, fs, who.image, who.record if stage is None else None)


def size(store: Store, text: str, stage: str | None = None, top: int = 10, reach=None) -> dict:
    """Where the image's bytes are and which are wasted (size.py): totals, each layer with
    the stage and Dockerfile line (or history entry) that made it, the largest files and
    directories, and for a build, what each COPY --from brought."""
    from distill.analyze.size import measure

    with store.writing():
        fs, who = image_fs(store, text, stage, reach)
        return measure(fs, who, top)


def compare(store: Store, a: str, b: str, reach=None) -> dict:
    """Two images side by side (compare.py): sizes, layers, files only in one or changed,
    by directory, and packages only in one (dpkg, apk, Python)."""
    from distill.analyze.compare import compare as compare_images
    from distill.analyze.packages import installed

    with store.writing():
        fa, _ = image_fs(store, a, None, reach)
        fb, _ = image_fs(store, b, None, reach)
        return compare_images(fa, fb, _size_of(fa), _size_of(fb), installed(fa), installed(fb))


def compare_stages(store: Store, text: str) -> dict:
    """The final image against each builder stage of the build that made it: what the
    multi-stage build kept out, in bytes and packages. Needs the build record."""
    from distill.analyze.compare import kept_out
    from distill.image.imagefs import ImageFS, recorded_stage_image, stage_label
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
            builders.append((stage_label(stage), sfs, _size_of(sfs)))
        return {"image": text, "size": _size_of(fs), "layers": len(fs.layers),
                "stages": kept_out(fs, builders, installed(fs), [installed(b[1]) for b in builders])}


def sbom(store: Store, text: str, fmt: str = "json", stage: str | None = None, files: bool = False,
         reach=None) -> str:
    """The packages the image holds (sbom.py) as `fmt`: json, table, cyclonedx-json or
    spdx-json."""
    from distill.analyze.sbom import catalog, cyclonedx, spdx, table

    with store.writing():
        fs, who = image_fs(store, text, stage, reach)
        doc = catalog(fs, who, files or fmt == "json")
    if fmt == "cyclonedx-json":
        return cyclonedx(text, who.image.config_digest, doc)
    if fmt == "spdx-json":
        return spdx(text, who.image.config_digest, doc)
    if fmt == "table":
        return table(doc)
    import json

    return json.dumps({"image": text, **doc}, indent=2) + "\n"


def db_update(store: Store, ecosystems: list[str], source: str | None = None) -> dict:
    """Downloads each ecosystem's OSV export (all.zip) and imports them."""
    from distill.analyze.vuln.db import OSV_EXPORT, download, import_osv

    return import_osv(store, download(store, ecosystems, source or OSV_EXPORT))


def scan(store: Store, text: str, stage: str | None = None, ignore: set[str] = frozenset(),
         ignore_unfixed: bool = False, reach=None, stages: bool = False) -> dict:
    """The image's packages matched against the local OSV database (vuln/): {"image",
    "distro", "findings": [{id, aliases, package, installed, fixed, severity, summary,
    ecosystem, source, layer, stage, line}], "packages": N}. With `stages` (a build's
    image), each builder stage is scanned too: "builder_only" lists what its stages hold
    and the image does not ship, {"stage": [...findings]}."""
    from distill.image.imagefs import Attribution, ImageFS, recorded_stage_image, stage_label
    from distill.analyze.sbom import catalog, os_release
    from distill.analyze.vuln.db import Database
    from distill.analyze.vuln.scan import keep, match

    db = Database(store)

    def scan_fs(fs, who):
        doc = catalog(fs, who)
        return doc, keep(match(doc["components"], os_release(fs), db), set(ignore), ignore_unfixed)

    try:
        with store.writing():
            fs, who = image_fs(store, text, stage, reach)
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
                    name = stage_label(st)
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


def scan_ignores(path: str) -> set[str]:
    from distill.analyze.vuln.scan import ignored_ids

    try:
        with open(path, encoding="utf-8") as f:
            return ignored_ids(f.read())
    except OSError as e:
        raise DistillError(f"{path}: {e.strerror}") from None


def report(store: Store, text: str, reach=None) -> str:
    """The HTML report of an image (report/): its filesystem's treemap, layers and waste,
    what its build kept out of it, the start check, its packages, the vulnerabilities the
    local database knows of (when there is one), and the lint findings of its build's
    Dockerfile when that file is still where the build read it."""
    from distill.analyze.report import render, tree_data
    from distill.analyze.sbom import catalog
    from distill.analyze.size import measure
    from distill.analyze.vuln.db import db_path

    with store.writing():
        fs, who = image_fs(store, text, None, reach)
        data = {"image": text, "size": measure(fs, who, 15), "tree": tree_data(fs),
                "sbom": catalog(fs, who)["components"]}
    data["check"] = check(store, text, None, reach)
    if os.path.exists(db_path(store)):
        data["scan"] = scan(store, text, reach=reach)["findings"]
    if who.record is not None:
        data["stages"] = compare_stages(store, text)
        from distill.analyze.lint.run import record_lint

        data["lint"] = record_lint(who.record)
    return render(data)


def _size_of(fs) -> int:
    return sum(fs.layer_sizes())


def image_fs(store: Store, text: str, stage: str | None = None, reach=None):
    # imported here: a build or a no-op command never loads imagefs
    from distill.image.imagefs import image_fs as open_fs

    return open_fs(store, text, stage, reach)



def existing_store(root: str | None = None) -> Store | None:
    """The store at `root` (or the default) if there is one: reading must not make one."""
    from distill.image.store.layout import default_root

    from distill.image.store import Store

    path = root or default_root()
    return Store(path) if os.path.isdir(path) else None


def ls(store: Store, text: str, path: str = "/", recursive: bool = False, stage: str | None = None,
       reach=None):
    """What `ls` inside the image shows at `path` (everything below it with `recursive`):
    one dict per entry with path, type, mode, uid, gid, size, target, layer, and the
    stage, line and instruction that wrote it where the build record knows them. An
    iterator: the entries are made as they are read, never held together."""
    from distill.image.imagefs import TYPES

    with store.writing():  # what a registry or an archive brought stays until this ends
        fs, who = image_fs(store, text, stage, reach)
    node = fs.stat(path, follow=True)
    if node is None:
        raise DistillError(f"{path}: no such file or directory in {text}")
    top = "/" + "/".join(p for p in path.split("/") if p)
    if node.type != "5":
        entries = iter([(top, fs.stat(path, follow=False))])
    elif recursive:
        entries = ((p, n) for p, n in fs.walk(top) if p != top)
    else:
        entries = ((f"{top.rstrip('/')}/{name}", node.children[name]) for name in sorted(node.children))
    return (_ls_row(p, n, who, TYPES) for p, n in entries)


def _ls_row(p: str, n, who, types: dict) -> dict:
    inode = n.inode
    made = who.of(n.layer)
    mode = 0o777 if inode.type == "2" else inode.mode  # as the kernel shows every symlink
    return {"path": p, "type": types.get(n.type, n.type), "mode": mode, "uid": inode.uid, "gid": inode.gid,
            "size": inode.size if inode.type == "0" else 0, "target": n.linkname or None,
            "layer": n.layer if n.layer >= 0 else None, "stage": made.get("stage"), "line": made.get("line"),
            "created_by": made.get("created_by")}


def export(store: Store, text: str, out_path: str, stage: str | None = None, reach=None) -> int:
    """The image's flattened filesystem as one tar at `out_path` ('-': standard output);
    returns the number of entries."""
    with store.writing():  # what a registry or an archive brought stays until this ends
        return _export(store, text, out_path, stage, reach)


def _export(store: Store, text: str, out_path: str, stage: str | None, reach) -> int:
    from distill.image.imagefs.export import export as write_tar

    fs, _ = image_fs(store, text, stage, reach)
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
        ports: list = (), memory: int = 0, pids_limit: int = 0, platform: str | None = None):
    """Runs the image `text` names (for `platform`, of several) with runc: the exit code,
    or with `detach` the container's ID. `ports` come from published_ports(); `memory`
    (bytes) and `pids_limit` bound the container's cgroup (0: no limit)."""
    from distill.build.runtime.container import run as run_container
    from distill.upkeep.stale import collect_stale

    collect_stale(store)
    image = _images().lookup(store, text, platforms.parse(platform) if platform else None)
    return run_container(store, image, command, env, workdir, user, entrypoint, network, detach, interactive, name,
                         tty, ports, memory, pids_limit)


def published_ports(store: Store, text: str, specs: list[str], all_exposed: bool, network: str) -> list:
    """docker run's -p specs and -P (the image's EXPOSEd ports), each with its host port
    (a free one where none was given)."""
    from distill.build.runtime.network import assign_host_ports, exposed_ports, parse_port

    ports = [parse_port(p) for p in specs]
    if (ports or all_exposed) and network != "private":
        raise DistillError(f"ports cannot be published with --network {network}")
    if all_exposed:
        asked = {(p.container, p.proto) for p in ports}
        ports += [p for p in exposed_ports(_images().lookup(store, text).config) if (p.container, p.proto) not in asked]
    return assign_host_ports(ports)


# ---- building ------------------------------------------------------------------
def build(store: Store, options, tags: list[str] = (), outputs: list = (), iidfile: str | None = None, gate=None):
    """Build per `options` (build_options()): the image stored, tagged, its build record
    attached, written or pushed where `outputs` say (build/pipeline.py), between the
    store's upkeep: what builds killed before this one left is collected first, the
    build cache kept within its bound after; `gate(image)` may refuse the image (raise)
    before it is named or sent. Returns (BuildResult, manifest descriptor, Image)."""
    from distill.build.pipeline import build as run
    from distill.upkeep.stale import collect_stale, confirm_in_background

    collect_stale(store)
    confirm_in_background(store)
    result, desc, image = run(store, options, tags, outputs, iidfile, gate)
    if result.executed:  # a no-op wrote nothing, and so has nothing to collect
        from distill.upkeep.gc import collect_cache

        try:
            collect_cache(store)
        except OSError:
            pass  # housekeeping: the image is built and stored; the next build or prune tries again
    return result, desc, image


def build_record(store: Store, text: str, platform: str | None = None) -> dict | None:
    """How the image `text` names (for `platform`, of several) was built (provenance.py),
    or None for an image built elsewhere (pulled, loaded, imported, bootstrapped)."""
    from distill.image.imagefs import build_record_of

    return build_record_of(store, _images().lookup(store, text, platforms.parse(platform) if platform else None))
