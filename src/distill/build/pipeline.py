"""A build from end to end: the solver run (again when a shared cache's layer turns out
missing), the image written and tagged, its build record attached, and the outputs and
caches it was asked for written."""

from __future__ import annotations

import os
import sys

from distill.errors import DistillError
from distill.fs.files import write_text
from distill.image.store.images import from_descriptor, store_name, write_image, write_index


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


def platform_list(text: str | None) -> list[str | None]:
    """--platform's platforms (comma-separated), each once; [None] for the machine's."""
    from distill import platform as platforms

    out = []
    for part in filter(str.strip, (text or "").split(",")):
        name = str(platforms.parse(part))
        if name not in out:
            out.append(name)
    return out or [None]


def build(store, options, tags: list[str] = (), outputs: list = (), iidfile: str | None = None, gate=None):
    """Build per `options` (build_options()); tag, record how it was built, export, push.
    Several platforms give an image each, in one OCI index. Returns (BuildResult,
    descriptor tagged, Image: the first platform's). The store's upkeep before and after
    is the caller's (api.build). `gate(image)`, for each platform's image, may refuse it
    (raise): the image stays in the store unnamed, nothing is tagged or sent."""
    from distill.build.outputs import export_local, write_archive

    names = [store_name(t) for t in tags]  # bad tags fail before any work
    targets = platform_list(options.platform)
    several = len(targets) > 1
    for out in outputs:
        if several and out.type == "docker":
            raise DistillError("--output type=docker holds one platform's image: type=oci writes an index of them")
    from distill.build.runtime.isolation import describe, summary

    said = summary(describe())
    if said and options.progress is not None:
        options.progress.message(said)
    with store.writing():
        built = _images_of(store, options, targets) if several else [_image_of(store, options)]
        desc = write_index(store, [(d, r.state.platform.as_dict()) for r, _, d in built]) if several else built[0][2]
        if gate is not None:
            for _, _, d in built:
                store.add_untagged(d)  # found by its ID while the gate looks
                gate(from_descriptor(store, d))
        for name in names:
            current = store.get_tag(name)
            if current is None or current["digest"] != desc["digest"]:
                store.set_tag(name, desc)
        if not names:
            store.add_untagged(desc)
        images = [from_descriptor(store, d, names[0] if names else None) for _, _, d in built]
        for (result, _, _), image, target in zip(built, images, targets):
            _keep_build_record(store, options.replace(platform=target) if several else options, result, image)
    result, remote, _ = built[0]
    image = images[0]
    if several:  # the counts are the build's: every platform's steps
        result.executed, result.cached = (sum(r.executed for r, _, _ in built), sum(r.cached for r, _, _ in built))
    for out in outputs:
        if out.type in ("oci", "docker"):
            whole = from_descriptor(store, desc, image.name, result.state.platform) if several else image
            write_archive(store, whole, names, out.type, out.dest)
        elif out.type == "local":
            for img, (r, _, _) in zip(images, built):  # a directory per platform, as BuildKit's
                export_local(store, img, os.path.join(out.dest, str(r.state.platform).replace("/", "_"))
                             if several else out.dest)
        elif out.type == "registry":
            if not names:
                raise DistillError("--output type=registry needs at least one -t NAME")
            from distill.image.registry.push import push_named  # httpx behind it: only when pushing

            for name in names:
                push_named(store, name, None, options.insecure, docker=not out.oci_mediatypes)
    for spec in options.cache_to:
        if spec.type != "inline":  # one document for every platform's steps (their keys differ)
            from distill.build.cache.remote import export

            results = [r for r, _, _ in built]
            export(store, spec, {k: v for r in results for k, v in _shared_steps(r).items()},
                   {k: v for r in results for k, v in r.memos.items()},
                   set().union(*(_shipped(r, spec.mode) for r in results)), options.insecure, remote)
    if iidfile:
        write_text(iidfile, desc["digest"] if several else image.config_digest)
    return result, desc, image


def _images_of(store, options, targets: list[str]) -> list:
    """The platforms' builds side by side, each one's stages as independent work (a step
    they share runs once: solver/claims.py); an interrupt or a failure stops them all."""
    import threading

    from distill.threads import Worker

    # an event each: a failing build sets its own (scheduler.py), and only this thread
    # stops the others, so the first failure seen here is the one that came first
    cancels, ended = [threading.Event() for _ in targets], threading.Event()
    workers = [Worker(_image_of, store, options.replace(platform=p), c, ended=ended) for p, c in zip(targets, cancels)]
    first = None  # the platform that failed first: its error is the build's
    try:
        for w in workers:
            w.start()
        while not all(w.done.is_set() for w in workers):
            ended.wait(0.2)  # short waits: only this thread runs the signal handlers
            ended.clear()
            first = first or next((w for w in workers if w.failed()), None)
            if first is not None:
                for c in cancels:
                    c.set()
        first = first or next((w for w in workers if w.failed()), None)
        if first is not None:
            first.result()  # raises its error
        return [w.result() for w in workers]
    except BaseException:
        for c in cancels:
            c.set()
        for w in workers:
            w.wait()
        raise


def _image_of(store, options, cancelled=None):
    """One platform's build, its image written (not yet tagged): (BuildResult,
    RemoteCache, manifest descriptor)."""
    result, remote = _build_with_caches(store, options, cancelled)
    config = result.state.image_config(options.labels)
    if any(spec.type == "inline" for spec in options.cache_to):
        from distill.build.cache.remote import inline_document
        from distill.build.cache.shared import INLINE_KEY

        config[INLINE_KEY] = inline_document(_shared_steps(result), result.memos, result.state.diff_ids)
    return result, remote, write_image(store, config, result.state.layers)


def _build_with_caches(store, options, cancelled=None):
    """Builder.build() consulting the --cache-from caches: a layer one of them names that
    cannot be had as named (missing, tampered) drops the records naming it, and the build
    goes again, its own steps so far cached locally. Returns (BuildResult, RemoteCache)."""
    from distill.build.cache.remote import CacheBroken, load
    from distill.build.solver.scheduler import Builder

    def warn(text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)

    from distill import platform as platforms

    remote = load(list(options.cache_from), options.insecure, warn, options.progress,
                  platforms.parse(options.platform) if options.platform else None) \
        if options.cache_from and not options.no_cache else None
    while True:
        try:
            return Builder(store, options, pull=_pull, remote=remote, cancelled=cancelled).build(), remote
        except CacheBroken as e:
            if e.layers <= remote.broken:
                raise DistillError(str(e)) from None  # dropped already: never loop
            remote.discard(e.layers, f"{e}; building the steps that made them")


def _pull(store, text: str, platform: str | None, insecure: tuple[str, ...], unpack: bool = False):
    """A base the store lacks, pulled (`unpack`: its layers unpacked as they arrive); the
    registry client (httpx behind it) is imported only then: a build whose bases are here
    never loads it."""
    from distill.image.registry.pull import pull_named

    return pull_named(store, text, platform, insecure, unpack=unpack)


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


def _keep_build_record(store, options, result, image) -> None:
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
    from distill.build.runtime.isolation import describe

    record = build_record(result.plan, options.replace(dockerfile_path=path, context=context), result.facts,
                          result.bases, stage_images, str(result.state.platform))
    record["isolation"] = describe()
    attach(store, image.descriptor, BUILD_RECORD, encode(record), refers_to)
