"""A layer's table of contents: every entry's header facts and where its data starts in
the uncompressed tar, made in one streaming pass and kept in the store under the
layer's diffID (ROOT/toc/<hex>.marshal: marshal reads lists of strings and numbers twice
as fast as json, and the file is the store's own), so an image that shares the layer
reads a file.

A row: [name, type, mode, uid, gid, size, mtime, linkname, offset, devmajor, devminor,
xattrs] with the name normalized (no leading "/" or "./"; "" is the root) and xattrs
as {name: hex} or null. The pass verifies the content against the diffID."""

from __future__ import annotations

import marshal
import os

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.errors import UnsafeLayer, VerificationError
from distill.fs.files import read_bytes
from distill.image.layers.tarstream import BLK, CHR, REG, split_name
from distill.fs.atomic import write_file

VERSION = 1
MAX_ENTRIES = 1_000_000  # per layer: a layer claiming more is refused, memory stays bounded

NAME, TYPE, MODE, UID, GID, SIZE, MTIME, LINK, OFFSET, DEVMAJOR, DEVMINOR, XATTRS = range(12)


def toc_path(store, diff_id: str) -> str:
    return store.path("toc", digests.split(diff_id)[1] + ".marshal")


def layer_toc(store, descriptor: dict, diff_id: str) -> list[list]:
    """The rows of a stored layer, from the cache or made now (and cached)."""
    kept = read_kept(toc_path(store, diff_id), VERSION, diff_id, "entries")
    if kept is not None:
        return kept
    with store.open_blob(descriptor["digest"]) as f:
        rows, size = scan(f, descriptor, diff_id)
    keep(store, diff_id, rows, size)
    return rows


def read_kept(path: str, version: int, diff_id: str, field: str) -> list | None:
    """The list `field` of a document kept for a layer (this module's, contents.py's), or
    None when it is missing, torn, of another version or of another layer."""
    try:
        doc = marshal.loads(read_bytes(path))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if isinstance(doc, dict) and doc.get("version") == version and doc.get("diff_id") == diff_id and \
            isinstance(doc.get(field), list):
        return doc[field]
    return None


def keep(store, diff_id: str, rows: list[list], size: int) -> None:
    """Keeps the rows of a layer whose content was checked against `diff_id` (a scan's,
    or an unpack's: it reads every entry anyway)."""
    path = toc_path(store, diff_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = marshal.dumps({"version": VERSION, "diff_id": diff_id, "size": size, "entries": rows})
    write_file(path, data, durable=False)  # a lost or torn file is made again
    try:
        os.unlink(path[:-len(".marshal")] + ".json")  # the format before this one
    except FileNotFoundError:
        pass
    store.remember_layer(diff_id, size=size)


def scan(f, descriptor: dict, diff_id: str) -> tuple[list[list], int]:
    """(rows, uncompressed size) of a layer blob open as `f` (a file, or a window with a
    `size`), in one pass: a plain blob is skipped through by seeking (its digest is its
    diffID); a compressed one is decompressed once and its content checked against the
    diffID."""
    from distill.image.layers.compress import HashingReader, decompressed
    from distill.image.layers.tarstream import TarReader

    kind = mediatypes.compression(descriptor["mediaType"])
    if kind == "none":
        if descriptor["digest"] != diff_id:
            raise VerificationError(f"layer {descriptor['digest']}: an uncompressed blob's digest must be "
                                    f"its diffID ({diff_id})")
        size = f.size if hasattr(f, "size") else os.fstat(f.fileno()).st_size
        return rows_of(TarReader(f, size)), size
    stream = HashingReader(decompressed(f, kind))
    rows = rows_of(TarReader(stream))
    stream.drain()
    if stream.digest != diff_id:
        raise VerificationError(f"layer {descriptor['digest']}: content has diffID {stream.digest}, image says {diff_id}")
    return rows, stream.size


def rows_of(reader) -> list[list]:
    rows = []
    for e in reader:
        if len(rows) >= MAX_ENTRIES:
            raise UnsafeLayer(f"layer has more than {MAX_ENTRIES} entries")
        rows.append(row_of(e))
    return rows


def row_of(e) -> list:
    """The row of one tarstream.Entry."""
    return make_row(e.name, e.type, e.mode, e.uid, e.gid, e.size, e.mtime, e.linkname, e.offset, e.devmajor,
                    e.devminor, e.xattrs)


def make_row(name: str, kind: str, mode: int, uid: int, gid: int, size: int, mtime: float, linkname: str,
             offset: int, devmajor: int = 0, devminor: int = 0, xattrs: dict[str, bytes] | None = None) -> list:
    """A row from an entry's fields (`offset`: where its data starts): a scan makes them
    from what it reads, a layer's writer from what it writes, which reads them back the same."""
    device = kind in (CHR, BLK)
    return ["/".join(split_name(name)), kind, mode & 0o7777, uid, gid, size if kind == REG else 0,
            int(mtime) if mtime == mtime else 0, linkname, offset, devmajor if device else 0,
            devminor if device else 0, {k: v.hex() for k, v in xattrs.items()} if xattrs else None]


def prune_tables(store, wanted_diff_ids: set[str]) -> int:
    """Remove the tables of contents (and content indexes, contents.py) of layers no kept
    image, cache record or container uses: what an analysis of an image read in place
    cached goes too, and is made again when asked. Returns how many layers' went."""
    keep = {d.partition(":")[2] for d in wanted_diff_ids if isinstance(d, str)}
    gone = set()
    directory = store.path("toc")
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        layer = name.split(".", 1)[0]
        if layer in keep:
            continue
        try:
            os.unlink(os.path.join(directory, name))
            gone.add(layer)
        except OSError:
            pass
    return len(gone)
