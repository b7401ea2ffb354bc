"""`distill fsck`: is the store sound? (as `git fsck` or `podman system check`) Every blob
against its digest, every name's manifest and what it references, the build records'
subjects, the step cache's records against the layers they name, the unpacked snapshots
against their completion markers. A problem is one line; with `repair`, what is broken is
removed (never a sound object) so the next build refetches or rebuilds it. Run under the
store's exclusive lock: no build writes meanwhile."""

from __future__ import annotations

import json
import os

from distill import digest as digests
from distill.fs.files import list_dir, read_bytes, unlink
from distill.image.oci.mediatypes import INDEXES, MANIFESTS
from distill.fs.atomic import remove_tree
from distill.image.store.layout import REF_NAME
from distill.fs.lock import locked
from distill.image.store.records import SUBJECT, is_artifact


def fsck(store, repair: bool = False) -> list[str]:
    """The problems found, a line each (after `repair`, each says what was done)."""
    with locked(store.path("locks", "gc.lock")):
        problems = []
        bad = _blobs(store, problems, repair)
        _names(store, problems, repair, bad)
        _cache(store, problems, repair)
        _snapshots(store, problems, repair)
        return problems


def _note(problems: list[str], text: str, repair: bool, action: str) -> None:
    problems.append(f"{text}" + (f": {action}" if repair else ""))


def _blobs(store, problems: list[str], repair: bool) -> set[str]:
    """Every blob's content against its name; returns the digests that were wrong."""
    wrong = set()
    for algorithm in list_dir(store.blobs_dir):
        for path in list_dir(algorithm):
            name = f"{os.path.basename(algorithm)}:{os.path.basename(path)}"
            if not digests.is_valid(name) or not os.path.isfile(path):
                _note(problems, f"blob {name}: not a blob's name", repair, "removed")
                if repair:
                    remove_tree(path) if os.path.isdir(path) else unlink(path)
                continue
            h = digests.hasher(name)
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            if h.hexdigest() != digests.split(name)[1]:
                wrong.add(name)
                _note(problems, f"blob {name}: its content has digest {digests.split(name)[0]}:{h.hexdigest()}",
                      repair, "removed")
                if repair:
                    unlink(path)
    return wrong


def _missing(store, desc: dict, wrong: set[str]) -> list[str]:
    """The digests `desc` needs (itself and, for an index or manifest, what it names) that
    are absent or were wrong."""
    out, todo, seen = [], [desc], set()
    while todo:
        d = todo.pop()
        digest = d.get("digest") if isinstance(d, dict) else None
        if not isinstance(digest, str) or digest in seen:
            continue
        seen.add(digest)
        if not digests.is_valid(digest) or digest in wrong or not store.has_blob(digest):
            out.append(digest)
            continue
        if d.get("mediaType") in INDEXES | MANIFESTS:
            try:
                doc = json.loads(store.read_blob(digest))
            except (ValueError, OSError):
                out.append(digest)
                continue
            children = list(doc.get("manifests") or []) + list(doc.get("layers") or [])
            # an index may name platforms the store never pulled: only a manifest's parts are needed
            todo += [c for c in children if d.get("mediaType") in MANIFESTS] + \
                [doc[k] for k in ("config",) if isinstance(doc.get(k), dict)]
    return out


def _names(store, problems: list[str], repair: bool, wrong: set[str]) -> None:
    broken = []
    entries = store.entries()
    present = {e.get("digest") for e in entries}
    for e in entries:
        name = (e.get("annotations") or {}).get(REF_NAME) or e.get("digest")
        if is_artifact(e):
            subject = (e.get("annotations") or {}).get(SUBJECT)
            if subject not in present:
                broken.append(e)
                _note(problems, f"build record {e.get('digest')}: its image {subject} is not in the store", repair,
                      "removed")
                continue
        gone = _missing(store, e, wrong)
        if gone:
            broken.append(e)
            what = "build record" if is_artifact(e) else "image"
            _note(problems, f"{what} {name}: {len(gone)} blob{'s' if len(gone) > 1 else ''} missing or damaged "
                            f"({gone[0]}{', ...' if len(gone) > 1 else ''})", repair, "name removed")
    if repair and broken:
        with store.editing_index() as index:
            index["manifests"] = [d for d in index["manifests"] if d not in broken]


def _cache(store, problems: list[str], repair: bool) -> None:
    for path in list_dir(store.path("cache", "steps")):
        if not path.endswith(".json"):
            continue
        try:
            record = json.loads(read_bytes(path))
            layer = record.get("layer") if isinstance(record, dict) else None
            ok = isinstance(record, dict) and (layer is None or (isinstance(layer, dict) and
                                                                store.has_blob(str(layer.get("digest")))))
        except (ValueError, OSError):
            ok = False
        if not ok:
            _note(problems, f"cache record {os.path.basename(path)[:-5]}: unreadable, or its layer is missing",
                  repair, "removed")
            if repair:
                unlink(path)


def _snapshots(store, problems: list[str], repair: bool) -> None:
    from distill.image.layers.unpack import is_complete, snapshots_dir

    base = snapshots_dir(store)
    for path in list_dir(base):
        name = os.path.basename(path)
        if name in ("empty", "last") or name.endswith((".complete", ".files")):
            if name.endswith(".complete") and not os.path.isdir(path[:-len(".complete")]):
                _note(problems, f"snapshot {name[:-9]}: a completion marker without its tree", repair, "removed")
                if repair:
                    unlink(path)
            continue
        if os.path.isdir(path) and not is_complete(path):
            why = _untrusted(path + ".complete")
            _note(problems, f"snapshot {name}: {why}", repair, "removed")
            if repair:
                unlink(path + ".complete")  # first: never a marker without its tree
                remove_tree(path)
                unlink(path + ".files")


def _untrusted(marker: str) -> str:
    """Why a snapshot's marker is not trusted (unpack.is_complete)."""
    try:
        with open(marker, "rb") as f:
            mark = f.read(64)
    except OSError:
        return "unpacked only in part (no completion marker)"
    if not mark:
        return "marked by an earlier version, never known to be synced"
    return "made before the machine restarted and never synced"

