"""The merged view of an image's layers, built from their tables of contents. Pure: rows
in, a tree of nodes out. Layers apply in order with the rules the layer applier follows
when it flattens (layers/apply.py, whiteouts deleting), so the view is the tree an unpack
would give: whiteouts `.wh.NAME` remove what they name, an opaque marker clears what the
layer did not write itself, a directory replaces a file and back, a hard link shares its
target's inode (metadata and content), a parent that is a symlink is followed inside the
image, and names that climb out are refused."""

from __future__ import annotations

from distill.errors import UnsafeLayer
from distill.image.layers.apply import whiteout_victim
from distill.image.layers.tarstream import split_name
from distill.image.layers.create import OPAQUE, WHITEOUT_PREFIX
from distill.image.layers.tarstream import DIR, HARDLINK, SYMLINK
from distill.image.layers.toc import (
    DEVMAJOR,
    DEVMINOR,
    GID,
    LINK,
    MODE,
    MTIME,
    NAME,
    OFFSET,
    SIZE,
    TYPE,
    UID,
    XATTRS,
)

MAX_HOPS = 40
MAX_DEPTH = 4096


_IMPLIED = ["", DIR, 0o755, 0, 0, 0, 0, "", 0, 0, 0, None]  # the row of a directory no layer lists


def _field(index: int, doc: str):
    return property(lambda self: self.row[index], doc=doc)


class Node:
    """One inode of the view: the table-of-contents row of the entry that made it (read
    through the properties below, so opening an image makes no copies) and the index of
    its layer. A hard link is a node of its own (its entry, its layer) whose `target` is
    the node it links to."""

    __slots__ = ("row", "layer", "children", "target")

    def __init__(self, row: list | None, layer: int, target: "Node | None" = None):
        self.row = row if row is not None else _IMPLIED
        self.layer = layer
        self.children: dict[str, Node] | None = {} if self.row[TYPE] == DIR else None
        self.target = target

    def update(self, row: list, layer: int) -> None:
        """The facts of a later entry for the same directory."""
        self.row, self.layer = row, layer

    entry = _field(NAME, "the name of the entry in its layer's tar")
    type = _field(TYPE, "tar's type letter")
    mode = _field(MODE, "permission bits")
    uid = _field(UID, "owner")
    gid = _field(GID, "group")
    size = _field(SIZE, "a regular file's size")
    mtime = _field(MTIME, "modification time, seconds")
    linkname = _field(LINK, "a link's target")
    offset = _field(OFFSET, "where the data starts in the layer's uncompressed tar")
    devmajor = _field(DEVMAJOR, "a device's major number")
    devminor = _field(DEVMINOR, "a device's minor number")
    xattrs = _field(XATTRS, "extended attributes, {name: hex}, or None")

    @property
    def inode(self) -> "Node":
        """The node holding the metadata and content: a hard link's target, else itself."""
        return self.target if self.target is not None else self

    def __repr__(self) -> str:
        return f"Node({self.entry!r}, {self.type!r}, layer={self.layer})"


class Tree:
    def __init__(self):
        self.root = Node(None, -1)
        self.count = 0

    # ---- building ----------------------------------------------------------------------
    def apply(self, layer: int, rows: list[list]) -> None:
        """One layer's rows, in the order its tar has them. Names were checked and
        normalized when the table of contents was made (toc.py)."""
        created: set[str] = set()
        parents: dict[str, Node] = {}  # parent path → its directory, while nothing is replaced
        for row in rows:
            name = row[NAME]
            if not name:
                if row[TYPE] != DIR:
                    raise UnsafeLayer(f"layer entry {name!r} would replace the root")
                continue  # the root's own entry: as the applier, its metadata is not the layer's
            where, _, base = name.rpartition("/")
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(name, name.split("/"), created)
                parents.clear()
                continue
            parent = parents.get(where)
            if parent is None:
                parent = parents[where] = self._dir(where.split("/") if where else [], name, create=True, layer=layer)
            existing = parent.children.get(base)
            if row[TYPE] == DIR and existing is not None and existing.type == DIR:
                existing.update(row, layer)  # a directory listed again keeps what it holds
                created.add(name)
                self.count += 1
                continue
            if row[TYPE] == HARDLINK:
                target = self._link_target(row, name)
                if existing is not None and existing.inode is target:
                    created.add(name)
                    continue
                node = Node(row, layer, target)
            else:
                node = Node(row, layer)
            if existing is not None:
                parents.clear()  # a directory or symlink on a remembered path may be gone
            parent.children[base] = node
            created.add(name)
            self.count += 1

    def _link_target(self, row: list, name: str) -> Node:
        target = split_name(row[LINK], "hard link target")
        if not target:
            raise UnsafeLayer(f"layer entry {name!r}: hard link to the root")
        node = self._dir(target[:-1], name, create=False).children.get(target[-1])
        if node is None:
            raise UnsafeLayer(f"layer entry {name!r}: hard link target {row[LINK]!r} does not exist")
        if node.type == DIR:
            raise UnsafeLayer(f"layer entry {name!r}: hard link to a directory")
        return node.inode

    def _whiteout(self, name: str, comps: list[str], created: set[str]) -> None:
        base = comps[-1]
        if base == OPAQUE:
            d = self._dir(comps[:-1], name, create=True, layer=-1)
            prefix = "/".join(comps[:-1])
            for child in list(d.children):
                if (f"{prefix}/{child}" if prefix else child) not in created:
                    del d.children[child]
            return
        victim = whiteout_victim(name, base)
        if victim is None:
            return
        try:
            d = self._dir(comps[:-1], name, create=False)
        except _Missing:
            return  # nothing below to hide
        d.children.pop(victim, None)

    def _dir(self, comps: list[str], name: str, create: bool, layer: int = -1, clamp: bool = False) -> Node:
        """The directory `comps` names, symlinks on the way followed inside the image; a
        missing one made (create) or _Missing. A `..` above the root is refused, as the
        applier refuses it, or with `clamp` stays there, as inside a container."""
        stack = [self.root]
        todo = list(comps)
        hops = 0
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if len(stack) == 1:
                    if clamp:
                        continue
                    raise UnsafeLayer(f"layer entry {name!r}: a symlink on its path points outside the root")
                stack.pop()
                continue
            cur = stack[-1]
            child = cur.children.get(part)
            if child is None:
                if not create:
                    raise _Missing(name)
                child = cur.children[part] = Node(None, layer)
            elif child.type == SYMLINK:
                hops += 1
                if hops > MAX_HOPS:
                    raise UnsafeLayer(f"layer entry {name!r}: too many levels of symbolic links")
                target = child.linkname
                if target.startswith("/"):
                    del stack[1:]
                todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                continue
            elif child.type != DIR:
                raise UnsafeLayer(f"layer entry {name!r}: {'/'.join(comps)} is not a directory")
            stack.append(child)
            if len(stack) > MAX_DEPTH:
                raise UnsafeLayer(f"layer entry {name!r}: deeper than {MAX_DEPTH} directories")
        return stack[-1]

    # ---- reading -----------------------------------------------------------------------
    def lookup(self, path: str, follow: bool = True) -> Node | None:
        """The node at `path` (absolute in the image), symlinks on the way followed inside
        the image, and the last one too when `follow`; None when there is nothing."""
        comps = [p for p in path.split("/") if p not in ("", ".")]
        if not comps:
            return self.root
        if comps[-1] == "..":
            comps.append(".")
        try:
            parent = self._dir(comps[:-1], path, create=False, clamp=True)
        except UnsafeLayer:
            return None
        node = parent if comps[-1] == "." else parent.children.get(comps[-1])
        hops = 0
        while follow and node is not None and node.type == SYMLINK:
            hops += 1
            if hops > MAX_HOPS:
                return None
            target = node.linkname
            base = "/" + "/".join(comps[:-1])
            comps = [p for p in (target if target.startswith("/") else f"{base}/{target}").split("/")
                     if p not in ("", ".")]
            comps = _clamped(comps)
            if not comps:
                return self.root
            try:
                parent = self._dir(comps[:-1], path, create=False, clamp=True)
            except UnsafeLayer:
                return None
            node = parent.children.get(comps[-1])
        return node

    def realpath(self, path: str) -> str | None:
        """`path` with every symlink on it resolved inside the image (as realpath(3) in a
        container); None when a part is missing or the links loop."""
        todo = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            node = self.lookup("/" + "/".join(done + [part]), follow=False)
            if node is None:
                return None
            if node.type == SYMLINK:
                hops += 1
                if hops > MAX_HOPS:
                    return None
                if node.linkname.startswith("/"):
                    done = []
                todo = [p for p in node.linkname.split("/") if p not in ("", ".")] + todo
                continue
            done.append(part)
        return "/" + "/".join(done)

    def walk(self, top: Node | None = None, prefix: str = ""):
        """(path, node) of everything under `top` (default the root), parents first,
        names sorted: the order `ls -R` and the flattened tar use."""
        todo = [(prefix, top or self.root)]
        while todo:
            path, node = todo.pop()
            if node.children:
                for name in sorted(node.children, reverse=True):
                    child = node.children[name]
                    todo.append((f"{path}/{name}", child))
            if path:
                yield path, node


def _clamped(comps: list[str]) -> list[str]:
    """`..` resolved lexically, stopping at the root (as inside a container)."""
    out: list[str] = []
    for p in comps:
        if p == "..":
            if out:
                out.pop()
        else:
            out.append(p)
    return out


class _Missing(UnsafeLayer):
    pass

