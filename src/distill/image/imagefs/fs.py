"""ImageFS: an image's filesystem read from its layers' tables of contents, never
unpacked. Contents are read when asked: from the layer's unpacked snapshot when the
store has one, else from the layer blob (a plain blob by seeking, a compressed one by
decompressing up to the entry, several entries of one layer in one pass)."""

from __future__ import annotations

import os

from distill.image.oci import mediatypes
from distill.errors import DistillError, NotFound
from distill.image.layers.tarstream import DIR, HARDLINK, REG, SYMLINK
from distill.image.sources.source import StoreBlobs
from distill.image.imagefs.tree import Node, Tree

READ_MAX = 64 << 20  # read() refuses a file larger than this: stream it with open_file()
TEXT_MAX = 4 << 20  # read_text()'s default bound: config files (/etc/passwd, ld.so paths)


class ImageFS:
    def __init__(self, store, layers: list[dict], diff_ids: list[str], config: dict | None = None,
                 name: str | None = None, blobs=None):
        """`blobs`: where the layers are read (sources.blobs: the store's by default)."""
        if len(layers) != len(diff_ids):
            raise DistillError(f"{name or 'image'}: {len(layers)} layers but {len(diff_ids)} diffIDs in its config")
        self.store = store
        self.blobs = blobs or StoreBlobs(store)
        self.layers = list(layers)
        self.diff_ids = list(diff_ids)
        self.config = config or {}
        self.name = name
        self.tree = Tree()
        self.layer_rows: list[list[list]] = []  # each layer's table of contents, the rows the tree's nodes hold
        for i, (desc, diff_id) in enumerate(zip(self.layers, self.diff_ids)):
            rows = self.blobs.rows(desc, diff_id)
            self.layer_rows.append(rows)
            self.tree.apply(i, rows)

    def layer_sizes(self) -> list[int]:
        """Each layer's uncompressed tar size, as docker counts an image's size."""
        return [self.blobs.uncompressed_size(d, i) for d, i in zip(self.layers, self.diff_ids)]

    # ---- the tree ------------------------------------------------------------------------
    def stat(self, path: str, follow: bool = False) -> Node | None:
        return self.tree.lookup(path, follow)

    def realpath(self, path: str) -> str | None:
        return self.tree.realpath(path)

    def is_file(self, path: str) -> bool:
        """A regular file is at `path` (symlinks followed)."""
        node = self.tree.lookup(path)
        return node is not None and node.inode.type == REG

    def is_dir(self, path: str) -> bool:
        node = self.tree.lookup(path)
        return node is not None and node.type == DIR

    def listdir(self, path: str) -> list[str]:
        node = self.tree.lookup(path)
        if node is None:
            raise NotFound(f"{path}: no such file or directory in {self.name or 'the image'}")
        if node.type != DIR:
            raise DistillError(f"{path}: not a directory")
        return sorted(node.children)

    def walk(self, path: str = "/"):
        """(absolute path, node) under `path`, parents first, names sorted."""
        node = self.tree.lookup(path)
        if node is None:
            return
        top = "/" + "/".join(p for p in path.split("/") if p)
        if top == "/":
            top = ""
        else:
            yield top, node
        if node.type == DIR:
            yield from self.tree.walk(node, top)

    # ---- contents -----------------------------------------------------------------------
    def read(self, path: str, limit: int = READ_MAX) -> bytes:
        """A file's content (symlinks followed inside the image)."""
        node = self.tree.lookup(path)
        if node is None:
            raise NotFound(f"{path}: no such file in {self.name or 'the image'}")
        inode = node.inode
        if inode.type != REG:
            raise DistillError(f"{path}: not a regular file")
        if inode.size > limit:
            raise DistillError(f"{path}: {inode.size} bytes, more than the {limit} read() takes")
        with self.open_file(inode) as f:
            return f.read(inode.size)

    def read_text(self, path: str, limit: int = TEXT_MAX) -> str | None:
        """A small text file (symlinks followed); None when it is missing, not a regular
        file, or larger than `limit`."""
        node = self.tree.lookup(path)
        if node is None or node.inode.type != REG or node.inode.size > limit:
            return None
        return self.head(node, limit).decode("utf-8", "replace")

    def head(self, node: Node, n: int) -> bytes:
        """The first `n` bytes of a regular file (all of it when it is smaller)."""
        with self.open_file(node) as f:
            return f.read(min(n, node.inode.size))

    def open_file(self, node: Node):
        """A regular file's content as a readable stream of exactly node.size bytes."""
        inode = node.inode
        desc, diff_id = self.layers[inode.layer], self.diff_ids[inode.layer]
        snapshot = self.blobs.snapshot_file(diff_id, inode.entry)
        if snapshot is not None:
            f = open(snapshot, "rb")
            if os.fstat(f.fileno()).st_size == inode.size:
                return f
            f.close()  # not the entry's content after all: read the blob
        f = self.blobs.open(desc)
        kind = mediatypes.compression(desc["mediaType"])
        if kind == "none":
            f.seek(inode.offset)
            return _Window(f, inode.size)
        from distill.image.layers.compress import decompressed

        stream = decompressed(f, kind)
        _skip(stream, inode.offset)
        return _Window(stream, inode.size, f)

    def contents(self, nodes: list[Node]):
        """(node, stream) for each regular file of `nodes`, a layer's files in one pass
        over its blob in the order of their data: for many reads of compressed layers."""
        by_layer: dict[int, list[Node]] = {}
        for n in nodes:
            by_layer.setdefault(n.inode.layer, []).append(n)
        for layer in sorted(by_layer):
            group = sorted(by_layer[layer], key=lambda n: n.inode.offset)
            desc = self.layers[layer]
            plain = mediatypes.compression(desc["mediaType"]) == "none"
            if plain or self.blobs.unpacked(self.diff_ids[layer]):
                for n in group:
                    with self.open_file(n) as f:
                        yield n, f
                continue
            from distill.image.layers.compress import decompressed

            with self.blobs.open(desc) as raw:
                stream = decompressed(raw, mediatypes.compression(desc["mediaType"]))
                pos = 0
                for n in group:
                    inode = n.inode
                    if inode.offset < pos:  # a second name for data already passed: read afresh
                        with self.open_file(n) as f:
                            yield n, f
                        continue
                    _skip(stream, inode.offset - pos)
                    window = _Window(stream, inode.size, shared=True)
                    yield n, window
                    window.drain()
                    pos = inode.offset + inode.size


class _Window:
    """At most `size` bytes of a stream, then EOF; closes `owner` (or the stream) on close,
    unless the stream is `shared` (the next file of a one-pass read is in it)."""

    def __init__(self, stream, size: int, owner=None, shared: bool = False):
        self.stream, self.left, self.owner, self.shared = stream, size, owner, shared

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 or n > self.left else n
        data = self.stream.read(n)
        if not data:
            raise DistillError("layer blob ended inside a file's content")
        self.left -= len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        if not self.shared:
            (self.owner or self.stream).close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _skip(stream, n: int) -> None:
    while n > 0:
        data = stream.read(min(n, 1 << 20))
        if not data:
            raise DistillError("layer blob ended before an entry's content")
        n -= len(data)


TYPES = {REG: "file", DIR: "dir", SYMLINK: "symlink", HARDLINK: "hardlink", "3": "char", "4": "block", "6": "fifo"}
