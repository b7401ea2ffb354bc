"""The content key of a COPY --from source, from the layers that hold it: for each source
path, what each layer of the stage or image does to it (image/layers/contents.py), the
layers that leave it alone left out. An edit that adds or changes layers elsewhere in
the stage (the builder's `COPY . .`) leaves the key of an unchanged /venv as it was, and
finding that out reads no file: each layer's answer for a path is memoized by the
layer's diffID, so only a new layer is read, and only its table of contents unless it
touches the path.

Where the layers cannot tell (a wildcard, a symlink at or above a source, a hard link
to another layer's file), the caller hashes the files themselves (copy.content_key)."""

from __future__ import annotations

import posixpath

from distill.build.cache.steps import step_key
from distill.digest import Sha256
from distill.errors import DistillError

_WILDCARDS = frozenset("*?[\\")
_UNKNOWN = "-"  # memoized: this layer cannot tell, for this path


def source_key(store, cache, layers: list[dict], diff_ids: list[str], sources: list[str],
               exclude: list[str]) -> str | None:
    """The key of `sources` (as COPY --from names them, from the stage's root) in the image
    made of `layers`, or None when the layers alone cannot tell."""
    if any(_WILDCARDS & set(s) for s in sources):
        return None
    h = Sha256(b"layered source key 1\n")
    read: dict[str, list] = {}  # diffID -> (rows, contents), for a layer several sources ask about
    h.update("\0".join(exclude).encode("utf-8", "surrogateescape") + b"\n")
    for source in sources:
        path = posixpath.normpath("/" + source).lstrip("/")
        h.update(f"{source}\0{path}\n".encode("utf-8", "surrogateescape"))
        for descriptor, diff_id in zip(layers, diff_ids):
            try:
                done = _layer_answer(store, cache, descriptor, diff_id, path, read)
            except (DistillError, ValueError):  # a layer not here (a remote cache's), or unreadable
                return None
            if done == _UNKNOWN:
                return None
            if done:
                h.update(done.encode() + b"\n")
    return "sha256:" + h.hexdigest()


def _layer_answer(store, cache, descriptor: dict, diff_id: str, path: str, read: dict) -> str:
    memo = step_key("", "LAYER-PATH", {"diff_id": diff_id, "path": path})
    found = cache.get_memo(memo)
    if isinstance(found, str):
        return found
    from distill.image.layers.contents import layer_contents, path_digest
    from distill.image.layers.toc import layer_toc

    if diff_id not in read:
        read[diff_id] = [layer_toc(store, descriptor, diff_id), None]
    held = read[diff_id]

    def contents():
        if held[1] is None:
            held[1] = layer_contents(store, descriptor, diff_id, held[0])
        return held[1]

    found = path_digest(held[0], contents, path)
    found = _UNKNOWN if found is None else found
    cache.put_memo(memo, found)
    return found
