"""Plain trees of layers kept in the store (ROOT/trees/<name>/fs) for the copy snapshotter,
so a build where overlayfs cannot be mounted copies a base once, not once per build.

A tree holds a chain of layers (its `chain` file: descriptors and diffIDs, bottom first).
A step takes the tree whose chain shares the longest bottom part with the one it needs:
the layers above that part are undone (each path a layer touched is put back as the
layers below hold it, read from their snapshots) and the missing ones laid on from
theirs; a tree with nothing in common is not worth undoing, and a new one is made.
Each tree is locked while a build holds it and marked dirty until it is given back in a
state its chain names: a tree a killed build left dirty is removed by the next taker.
The least recently used beyond KEEP go; `prune` removes them all."""

from __future__ import annotations

import json
import os
import stat

from distill.build.snapshot.copier import Copier, is_opaque, is_whiteout, remove
from distill.build.snapshot.tree_diff import Survey, survey
from distill.fs.atomic import remove_tree, write_file
from distill.fs.files import list_dir, read_text

KEEP = 4  # trees kept (each a whole image's files)

Layers = list  # [(descriptor, diffID)], bottom first


def trees_dir(store) -> str:
    d = store.path("trees")
    os.makedirs(d, exist_ok=True)
    return d


class Tree:
    def __init__(self, home: str, fd: int, layers: Layers):
        self.home, self.fd, self.layers = home, fd, layers
        self.survey: Survey = {}

    @property
    def root(self) -> str:
        return os.path.join(self.home, "fs")

    @property
    def chain(self) -> tuple[str, ...]:
        return tuple(i for _, i in self.layers)


def _lock(home: str) -> int | None:
    import fcntl

    try:
        fd = os.open(os.path.join(home, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def _read_layers(home: str) -> Layers | None:
    try:
        doc = json.loads(read_text(os.path.join(home, "chain")))
        return [(d, i) for d, i in doc] if not os.path.exists(os.path.join(home, "dirty")) else None
    except (OSError, ValueError, TypeError):
        return None


def _common(a: tuple, b: tuple) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def take(store, layers: Layers, exact: bool = False) -> Tree | None:
    """The kept tree sharing most of `layers` from the bottom, locked and marked dirty
    (None when none shares any, or, `exact`, none holds all and only them)."""
    chain = tuple(i for _, i in layers)
    best, best_score = None, None
    for home in list_dir(trees_dir(store)):
        fd = _lock(home)
        if fd is None:
            continue  # another build's
        held = _read_layers(home)
        if held is None:  # dirty, or half made: a killed build's
            remove_tree(home)
            os.close(fd)
            continue
        tree = Tree(home, fd, held)
        n = _common(tree.chain, chain)
        score = (n, n - len(tree.chain))  # most in common, then least to undo
        fits = n == len(chain) == len(tree.chain) if exact else n > 0
        if fits and (best_score is None or score > best_score):
            if best is not None:
                os.close(best.fd)
            best, best_score = tree, score
        else:
            os.close(fd)
    if best is not None:
        write_file(os.path.join(best.home, "dirty"), b"", durable=False)
    return best


def new_tree(store) -> Tree:
    """An empty tree, locked and marked dirty before another taker can see it."""
    from distill.fs.atomic import temp_dir

    made = temp_dir(store.tmp_dir, "tree-")
    fd = _lock(made)
    os.mkdir(os.path.join(made, "fs"), 0o755)
    write_file(os.path.join(made, "dirty"), b"", durable=False)
    home = os.path.join(trees_dir(store), os.path.basename(made))
    os.rename(made, home)
    return Tree(home, fd, [])


def give_back(store, tree: Tree) -> None:
    """The tree holds its chain again: kept for the next taker; the oldest beyond KEEP go."""
    write_file(os.path.join(tree.home, "chain"), json.dumps(tree.layers).encode(), durable=False)
    os.unlink(os.path.join(tree.home, "dirty"))
    os.close(tree.fd)
    homes = sorted(list_dir(trees_dir(store)), key=lambda h: _mtime(os.path.join(h, "chain")))
    for home in homes[:-KEEP]:
        fd = _lock(home)
        if fd is not None:
            remove_tree(home)
            os.close(fd)


def drop(tree: Tree) -> None:
    remove_tree(tree.home)
    os.close(tree.fd)


def drop_all(store) -> None:
    """Every tree no build holds (prune)."""
    for home in list_dir(trees_dir(store)):
        fd = _lock(home)
        if fd is not None:
            remove_tree(home)
            os.close(fd)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


# ---- moving a tree along chains --------------------------------------------------------
def roll(store, tree: Tree, layers: Layers) -> None:
    """Brings the tree from its chain to `layers`: undoes what is above the common part,
    lays on the rest, surveys it."""
    from distill.image.layers.unpack import unpacked

    n = _common(tree.chain, tuple(i for _, i in layers))
    held = [unpacked(store, d, i) for d, i in tree.layers]
    copier = Copier()
    for j in range(len(held) - 1, n - 1, -1):
        _undo(tree.root, held[j], held[:j], copier)
        copier.finish()
    for k, (d, i) in enumerate(layers[n:], n):
        snapshot = unpacked(store, d, i)
        if k == 0 and not os.listdir(tree.root):
            _copy_whole(snapshot, tree.root)
        else:
            _lay(snapshot, tree.root, "", copier)
            copier.finish()
    tree.layers = list(layers)
    tree.survey = survey(tree.root)


def _copy_whole(snapshot: str, root: str) -> None:
    """A new tree's bottom layer by one `cp -a` (twice as fast as a walk here): the
    snapshot's deletion marks go with the survey, its opaque marks stay inert (nothing is
    mounted on the tree, and no copy out of it keeps them)."""
    import subprocess

    from distill.errors import DistillError

    r = subprocess.run(["cp", "-a", "--", snapshot + "/.", root], capture_output=True, text=True)
    if r.returncode != 0:
        raise DistillError(f"copying {snapshot}: {r.stderr.strip()}")


def _lay(snapshot: str, root: str, rel: str, copier: Copier) -> None:
    """The snapshot's entry at `rel` (in overlay form) laid onto the tree, with what is
    below it: a deletion mark removes, an opaque directory replaces, a directory merges."""
    src = os.path.join(snapshot, rel) if rel else snapshot
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return
    stack = [(rel, src, st)]
    while stack:
        rel, src, st = stack.pop()
        dst = os.path.join(root, rel) if rel else root
        if is_whiteout(st):
            remove(dst)
        elif stat.S_ISDIR(st.st_mode):
            if rel and is_opaque(src):
                remove(dst)
            elif os.path.lexists(dst) and not (os.path.isdir(dst) and not os.path.islink(dst)):
                remove(dst)
            copier.directory(src, dst, st)
            with os.scandir(src) as it:
                for e in it:
                    stack.append((f"{rel}/{e.name}" if rel else e.name, e.path, e.stat(follow_symlinks=False)))
        else:
            remove(dst)
            copier.entry(src, dst, st)


def _hidden_below(snapshot: str, rel: str) -> bool:
    """Whether an ancestor of `rel` in this snapshot hides the layers below it there."""
    parts = rel.split("/")[:-1]
    return any(is_opaque(os.path.join(snapshot, *parts[:k])) for k in range(1, len(parts) + 1))


def _restore(root: str, rel: str, lowers: list[str], copier: Copier) -> None:
    """`rel` in the tree made again as the layers `lowers` (bottom first) hold it."""
    remove(os.path.join(root, rel))
    for snap in lowers:
        if _hidden_below(snap, rel):
            remove(os.path.join(root, rel))
        _lay(snap, root, rel, copier)


def _lower_entry(lowers: list[str], rel: str) -> tuple[str, os.stat_result] | None:
    for snap in reversed(lowers):
        try:
            st = os.lstat(os.path.join(snap, rel))
        except FileNotFoundError:
            continue
        return None if is_whiteout(st) else (os.path.join(snap, rel), st)
    return None


def _undo(root: str, layer: str, lowers: list[str], copier: Copier) -> None:
    """Every path the layer's snapshot touches put back as `lowers` hold it: a directory
    both keep gets its metadata back and is walked; anything else is made again whole."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(layer, rel_dir) if rel_dir else layer) as it:
            for e in it:
                rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                below = _lower_entry(lowers, rel)
                if e.is_dir(follow_symlinks=False) and not is_opaque(e.path) and below is not None \
                        and stat.S_ISDIR(below[1].st_mode) and os.path.isdir(os.path.join(root, rel)):
                    copier.directory(below[0], os.path.join(root, rel), below[1])
                    stack.append(rel)
                else:
                    _restore(root, rel, lowers, copier)
