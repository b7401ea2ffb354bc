"""A layer's content index: the SHA-256 of every regular file's data, row by row of its
table of contents (toc.py), kept beside it (ROOT/toc/<hex>.contents.marshal) and made on
first need in one pass over the blob. With it, what a layer does to a path is known
without unpacking a file (path_digest), which keys COPY --from by the layers that hold
the source (build/solver/layered_key.py)."""

from __future__ import annotations

import marshal
import os

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.fs.atomic import write_file
from distill.image.layers.tarstream import DIR, HARDLINK, REG, SYMLINK
from distill.image.layers.toc import (LINK, MODE, NAME, OFFSET, SIZE, TYPE, UID, GID, XATTRS, DEVMAJOR, DEVMINOR,
                                      read_kept)

VERSION = 1
_CHUNK = 1 << 20
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


def contents_path(store, diff_id: str) -> str:
    return store.path("toc", digests.split(diff_id)[1] + ".contents.marshal")


def layer_contents(store, descriptor: dict, diff_id: str, rows: list[list]) -> list[bytes | None]:
    """Each row's content digest (32 bytes; None for what is not a regular file), from the
    cache or made now and cached. A hard link gets its target's, when the target is in
    the layer."""
    path = contents_path(store, diff_id)
    kept = read_kept(path, VERSION, diff_id, "digests")
    if kept is not None and len(kept) == len(rows):
        return kept
    from distill.image.layers.compress import decompressed

    kind = mediatypes.compression(descriptor["mediaType"])
    with store.open_blob(descriptor["digest"]) as f:
        found = hash_rows(decompressed(f, kind), rows, seekable=kind == "none")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_file(path, marshal.dumps({"version": VERSION, "diff_id": diff_id, "digests": found}), durable=False)
    return found


def hash_rows(stream, rows: list[list], seekable: bool = False) -> list[bytes | None]:
    """The content digests of `rows`, reading the tar `stream` once, front to back."""
    import hashlib

    out: list[bytes | None] = [None] * len(rows)
    position = 0
    for i in sorted((i for i, r in enumerate(rows) if r[TYPE] == REG), key=lambda i: rows[i][OFFSET]):
        offset, size = rows[i][OFFSET], rows[i][SIZE]
        if offset < position:
            raise ValueError("table of contents out of order")
        if seekable:
            stream.seek(offset)
        else:
            _skip(stream, offset - position)
        h = hashlib.sha256()
        left = size
        while left:
            chunk = stream.read(min(_CHUNK, left))
            if not chunk:
                raise ValueError("layer ends inside a file")
            h.update(chunk)
            left -= len(chunk)
        out[i] = h.digest()
        position = offset + size
    files = None
    for i, r in enumerate(rows):
        if r[TYPE] == HARDLINK:
            files = files if files is not None else _files(rows)
            target = files.get(_link_name(r[LINK]))
            out[i] = out[target] if target is not None else None
    return out


def _files(rows: list[list]) -> dict[str, int]:
    """Each regular file's row, by name: what a hard link names."""
    return {r[NAME]: i for i, r in enumerate(rows) if r[TYPE] == REG}


def _link_name(link: str) -> str:
    """A hard link's target as the table of contents names entries."""
    return "/".join(p for p in link.split("/") if p not in ("", "."))


def _skip(stream, n: int) -> None:
    while n > 0:
        chunk = stream.read(min(_CHUNK, n))
        if not chunk:
            raise ValueError("layer ends early")
        n -= len(chunk)


def path_digest(rows: list[list], contents, path: str) -> str | None:
    """What a layer does to `path` (a normalized name: no leading "/", "" for the root) and
    everything under it: "" when nothing, else one digest of those entries (names, types,
    modes, owners, contents, link targets, devices, xattrs), of the whiteouts that remove
    them and of what replaces a directory above them. None when the layer alone cannot
    tell: a symlink at or above `path` (what it names lies elsewhere), or a hard link to
    a file of another layer. `contents()` gives layer_contents(), asked only when needed."""
    prefix = f"{path}/" if path else ""
    above = set()
    parent = path
    while parent:
        parent = parent.rpartition("/")[0]
        above.add(parent)
    lines, files = [], None
    for i, r in enumerate(rows):
        name = r[NAME]
        head, _, base = name.rpartition("/")
        if base.startswith(_WHITEOUT):
            gone = head if base == _OPAQUE else f"{head}/{base[len(_WHITEOUT):]}".lstrip("/")
            if not (gone == path or gone in above or gone.startswith(prefix)):
                continue
        elif name == path or name.startswith(prefix):
            if r[TYPE] == SYMLINK and name == path:
                return None
        elif name in above:
            if r[TYPE] == DIR:
                continue  # a directory above stays one: what is under it is untouched
            if r[TYPE] == SYMLINK:
                return None
        else:
            continue
        content, meta = "", r
        if r[TYPE] in (REG, HARDLINK):
            if not isinstance(contents, list):
                contents = contents()
            if contents[i] is None:
                return None
            content = contents[i].hex()
            if r[TYPE] == HARDLINK:  # the file it names, whose mode and owner it shares
                files = files if files is not None else _files(rows)
                meta = rows[files[_link_name(r[LINK])]]
        xattrs = sorted((meta[XATTRS] or {}).items())
        lines.append(f"{name}\0{r[TYPE]}\0{meta[MODE]:o}\0{meta[UID]}:{meta[GID]}\0{content}\0"
                     f"{r[LINK] if r[TYPE] == SYMLINK else ''}\0{r[DEVMAJOR]},{r[DEVMINOR]}\0{xattrs}\n")
    if not lines:
        return ""
    return digests.of_bytes("".join(sorted(lines)).encode("utf-8", "surrogateescape"))
