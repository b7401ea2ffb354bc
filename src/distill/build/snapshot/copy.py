"""A snapshotter for where overlayfs cannot be mounted (a container that refuses mounts):
a step works in a plain tree of its layers, kept in the store and moved from chain to
chain (trees.py), and what it changed is found by comparing the tree with a survey taken
before it (tree_diff.py), written in overlay form so the rest of the builder cannot
tell. After a step its tree holds the step's layer on top, as Kaniko's root does, and
the stage's next step, or a COPY --from of the stage, takes it as it is."""

from __future__ import annotations

import os
from contextlib import contextmanager

from distill.build.snapshot import trees
from distill.build.snapshot.overlay import Mounted
from distill.build.snapshot.tree_diff import Survey, diff
from distill.errors import DistillError
from distill.fs.atomic import remove_tree, temp_dir


class CopyMounted(Mounted, frozen=False):
    """A step's tree; its changes found on demand, what the tree holds after the step
    settled by the commit (session.commit)."""

    def __init__(self, tree: trees.Tree, upper: str):
        super().__init__(tree.root, upper, upper)
        self.tree = tree
        self.after: Survey | None = None
        self.settled = False

    def changes(self) -> str:
        if self.after is None:
            self.after = diff(self.tree.root, self.tree.survey, self.upper)
        return self.upper

    def settle(self, layer) -> None:
        self.changes()
        self.tree.survey = self.after
        if layer is not None:
            self.tree.layers.append((layer.descriptor, layer.diff_id))
        self.settled = True


class CopySnapshotter:
    name = "copy"

    def __init__(self, store):
        self.store = store

    @contextmanager
    def mount(self, layers: list[tuple[dict, str]]):
        """A writable tree of the layers (descriptor, diffID; bottom first); yields a
        CopyMounted. The tree is kept when the step settled it, or changed nothing; else
        it is dropped."""
        tree = trees.take(self.store, layers)
        if tree is not None:
            try:
                trees.roll(self.store, tree, layers)
            except (OSError, DistillError):  # a layer it held is gone from the store: start anew
                trees.drop(tree)
                tree = None
        if tree is None:
            tree = trees.new_tree(self.store)
            try:
                trees.roll(self.store, tree, layers)
            except BaseException:
                trees.drop(tree)
                raise
        upper = temp_dir(self.store.tmp_dir, "upper-")
        m = CopyMounted(tree, upper)
        kept = False
        try:
            yield m
            if not m.settled:  # a step that only looked: kept if it left the tree as it was
                m.changes()
                if not os.listdir(upper):
                    m.settle(None)
            kept = m.settled
        finally:
            remove_tree(upper)
            if kept:
                trees.give_back(self.store, tree)
            else:
                trees.drop(tree)

    @contextmanager
    def view(self, layers: list[tuple[dict, str]]):
        """The kept tree of exactly these layers, to read only (the stage a COPY --from
        names has just left its tree there); else None."""
        tree = trees.take(self.store, layers, exact=True)
        if tree is None:
            yield None
            return
        try:
            yield tree.root
        finally:
            trees.give_back(self.store, tree)

    def close(self) -> None:
        pass
