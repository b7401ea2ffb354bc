"""The store's garbage collection policy: what `distill prune` removes, and how a build
keeps the build cache within its bound afterwards. Store.prune/collect do the removing
under the GC lock; this decides what the cache keeps and which snapshots go."""

from __future__ import annotations

import os

from distill.build.cache.steps import StepCache
from distill.errors import DistillError
from distill.image.store.images import from_descriptor
from distill.units import parse_size
from distill.image.store.records import is_artifact


def prune(store, cache: bool = False, keep_storage: int | None = None) -> tuple[int, int]:
    """Unnamed images and unreachable blobs; the build cache's layers are kept unless
    `cache` asks to drop the build cache too, or `keep_storage` bounds it (bytes, the
    newest records kept)."""
    from distill.upkeep.stale import collect_stale, release

    collect_stale(store)  # containers and port proxies killed builds and runs left
    steps = StepCache(store)
    if cache:
        steps.clear()
    # snapshots go under the same lock as blobs: a concurrent build holds it shared
    return store.prune(keep_blobs=_kept_by_cache(steps, keep_storage),
                       also=lambda: _drop_unused(store, steps), release=release)


def _drop_unused(store, steps) -> None:
    from distill.build.snapshot.trees import drop_all

    _drop_unused_snapshots(store, steps, store.tags())
    drop_all(store)  # the copy snapshotter's trees: made again from the snapshots when needed


def collect_cache(store, limit: int | None = None) -> tuple[int, int] | None:
    """After a build that made layers: keep the layers only the build cache holds within
    `limit`, as BuildKit's default garbage collection does (10% of the disk the store is
    on, or $DISTILL_CACHE_KEEP), dropping the oldest step records first. Images, named or
    not, are never touched, nor a container's layers. None when nothing was to be done,
    or another process held the store."""
    limit = cache_limit(store) if limit is None else limit
    bound = store.unreached_bytes_bound()
    if bound is not None and bound <= limit:  # the cheap bound: the cache cannot be over it
        return None
    steps = StepCache(store)
    return store.collect(_kept_by_cache(steps, limit), lambda: _drop_unused_snapshots(
        store, steps, [(None, d) for d in store.entries() if not is_artifact(d)]))


def _kept_by_cache(steps, limit: int | None):
    """keep_blobs for Store.prune/collect: the cache's layers, trimmed to `limit` first
    (what the images reach neither counts nor goes)."""
    def keep(reachable: set[str]) -> set[str]:
        if limit is not None:
            steps.trim(limit, reachable)
        return steps.referenced_blobs()
    return keep


def cache_limit(store) -> int:
    """The cache's bound: $DISTILL_CACHE_KEEP, else 10% of the disk the store is on."""
    text = os.environ.get("DISTILL_CACHE_KEEP")
    if text:
        try:
            return parse_size(text)
        except ValueError as e:
            raise DistillError(f"DISTILL_CACHE_KEEP: {e}") from None
    try:
        st = os.statvfs(store.root)
        return st.f_blocks * st.f_frsize // 10
    except OSError:
        return 2 << 30


def _drop_unused_snapshots(store, steps, images) -> None:
    """Unpacked layers, and their tables of contents, that no step record, none of
    `images` ((name, descriptor)) and no container (a mount's lower dirs) uses."""
    from distill.build.runtime.container import in_use_diff_ids
    from distill.image.layers.toc import prune_tables
    from distill.image.layers.unpack import prune_snapshots

    wanted = set(steps.referenced_diff_ids()) | in_use_diff_ids(store)
    for name, desc in images:
        try:
            wanted.update(from_descriptor(store, desc, name).diff_ids)
        except DistillError:
            continue
    prune_snapshots(store, wanted)
    prune_tables(store, wanted)
