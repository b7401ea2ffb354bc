"""The COPY and ADD step: key it by what it copies, then write its layer by the quickest
path that gives the same result: --link (the items alone), direct (no mount:
solver/direct.py), or through an overlay mount and the confined applier."""

from __future__ import annotations

import os
import posixpath
import time
from contextlib import ExitStack

from distill.build.cache.steps import step_key
from distill.build.context.ignore import Matcher
from distill.build.dockerfile.shell import Lexer
from distill.errors import DistillError
from distill.fs.confined import RootView
from distill.build.plan.model import Stage, Step
from distill.build.plan.steps import AddArgs
from distill.build.solver import add
from distill.build.solver import copy as copying
from distill.build.solver.layered_key import source_key
from distill.build.solver.session import Session
from distill.build.solver.state import StageState

_EMPTY = object()  # a direct copy that makes no layer
_MAX_PLACED = 10_000  # source → destination pairs kept for the build record


class CopyStep:
    def __init__(self, s: Session, stage: Stage, step: Step, state: StageState, label: str | None):
        self.s, self.stage, self.step, self.state, self.label = s, stage, step, state, label
        self.a = a = step.args
        self.what = step.instruction.keyword
        self.is_add = isinstance(a, AddArgs)
        self.exclude = Matcher.from_text("\n".join(a.exclude)) if a.exclude else None
        self.chmod = copying.parse_chmod(a.chmod)
        heredocs = step.instruction.heredocs
        self.heredocs = {f"<<{h.name}": h for h in heredocs} | {f"<<-{h.name}": h for h in heredocs}
        sources = [x for x in a.sources if x not in self.heredocs]
        self.urls = [x for x in sources if self.is_add and add.is_url(x)]
        self.sources = [x for x in sources if x not in self.urls]
        self.src_state = s.source_state(a.from_) if a.from_ is not None else None
        self.tree = self.sel = None
        self.source_snapshots = None  # where the --from stage's files lie, to link (direct.py)
        self.placed: list = []

    def run(self) -> None:
        s, a, state = self.s, self.a, self.state
        created_by = " ".join(self.step.instruction.original.split()) + " # buildkit"
        progress = s.progress_step(self.label, self.step)
        with ExitStack() as stack:
            self.stack = stack
            contents = self._heredoc_contents()
            downloads = {u: add.download(s, u, a.checksum, stack) for u in self.urls}
            payload = {"sources": list(a.sources), "dest": a.dest, "workdir": state.workdir, "chown": a.chown,
                       "chmod": a.chmod, "link": a.link, "parents": a.parents, "exclude": list(a.exclude),
                       "content": self._content_key(),
                       "heredocs": [[k, v.decode("utf-8", "surrogateescape")] for k, v in contents.items()],
                       "urls": {u: d[1] for u, d in downloads.items()},
                       "unpack": a.unpack if self.is_add else None}
            key = step_key(state.key, self.what, payload)
            if s.cached(state, key, created_by, self.stage, self.step, progress):
                return
            self._open()
            if a.link:
                layer = s.layer_from_items(self._items(None, owner_ids(a.chown, None), contents, downloads))
            elif not self.is_add and (layer := self._direct(contents, step_key(state.key, "DIRECT",
                                                                                payload | {"content": ""}))):
                layer = None if layer is _EMPTY else layer
            else:
                layer = self._through_overlay(contents, downloads)
        s.finish(state, key, layer, created_by, self.stage, self.step, progress, copies=self._copies())

    # ---- what is copied ------------------------------------------------------------------
    def _open(self) -> None:
        """The source tree and the selection, a stage mounted only when needed."""
        if self.sel is not None:
            return
        tree = None
        if self.src_state is not None:
            from distill.build.context.source import SourceTree

            tree = SourceTree(self._source_root(), None, is_context=False)
        elif self.sources:
            if self.s.context_tree is None:
                raise DistillError(f"{self.what} needs a build context, but none was given")
            tree = self.s.context_tree
        self.tree = tree
        origin = None
        if self.a.from_ is not None:
            frm = getattr(self.step.instruction, "from_", None) or self.a.from_.image
            origin = f"stage {frm}" if self.a.from_.stage is not None else f"image {self.a.from_.image}"
        self.sel = (copying.select(tree, self.sources, self.what, empty_wildcard=True, origin=origin) if self.sources
                    else copying.Selection([]))

    def _source_root(self) -> str:
        """Where the --from image or stage is read: its tree when the snapshotter has one
        at hand, else only the paths the copy names, written from its layers
        (solver/extract.py)."""
        src = self.src_state
        root = self.stack.enter_context(self.s.viewed(src))
        if root is not None:
            if self.s.snap.name == "overlayfs":  # a mount of the layers' snapshots, which never change
                from distill.build.solver.direct import SourceSnapshots
                from distill.image.layers.unpack import snapshot_id, snapshot_path

                self.source_snapshots = SourceSnapshots(root, [(snapshot_id(d), snapshot_path(self.s.store, d))
                                                               for d in reversed(src.diff_ids)])
            return root
        from distill.image.imagefs import ImageFS
        from distill.build.solver.extract import extracted

        fs = ImageFS(self.s.store, src.layers, src.diff_ids)
        return extracted(fs, self.sources, os.path.join(self.s.scratch_dir(self.stack, "from-"), "fs"))

    def _content_key(self) -> str:
        if self.src_state is not None and self.sources:
            # a stage's key fixes its content, so what a selection of it hashes to is memoized
            memo = step_key(self.src_state.key, "SOURCE", {"sources": self.sources, "exclude": list(self.a.exclude)})
            content = self.s.cache.get_memo(memo, share=True)
            if content is None:
                src = self.src_state
                content = source_key(self.s.store, self.s.cache, src.layers, src.diff_ids, self.sources,
                                     list(self.a.exclude))
                if content is None:  # the layers cannot tell: hash the files
                    self._open()
                    content = copying.content_key(self.tree, self.sel, self.exclude)
                self.s.cache.put_memo(memo, content, share=True)
            return content
        self._open()
        return copying.content_key(self.tree, self.sel, self.exclude) if self.tree else ""

    def _heredoc_contents(self) -> dict[str, bytes]:
        lexer = Lexer("\\", raw_quotes=True, raw_escapes=True)
        env = dict(self.step.env)
        contents = {}
        for x in self.a.sources:
            h = self.heredocs.get(x)
            if h is None:
                continue
            text = h.content
            if h.chomp:
                text = "".join(line.lstrip("\t") for line in text.splitlines(keepends=True))
            if h.expand:
                text = lexer.process_word(text, env)
            contents[x] = text.encode("utf-8", "surrogateescape")
        return contents

    def _items(self, image, owner, contents, downloads) -> list:
        """Every entry to write, named as it lands in `image` (None: nothing there yet)."""
        a, state, tree = self.a, self.state, self.tree
        items = []
        self.placed = []
        if tree is not None:
            sel = self.sel
            if self.is_add and a.unpack is not False and tree is self.s.context_tree:
                sel = copying.Selection([(x, [r for r in found if not add.is_archive(tree, r)])
                                         for x, found in sel.matches])
            items += copying.plan_items(tree, sel, a.dest, state.workdir, image, owner, self.chmod, self.exclude,
                                        a.parents, self.what, self.placed)
        dest_abs = copying.dest_path(a.dest, state.workdir)
        dest_dir = a.dest.endswith("/") or (image is not None and image.is_dir(dest_abs))
        for x, content in contents.items():
            name = posixpath.join(dest_abs, x.lstrip("<-")) if dest_dir else dest_abs
            items.append(copying.heredoc_item(name, content, owner, self.chmod, time.time()))
        for url, (path, _) in downloads.items():
            base = posixpath.basename(url.split("?")[0].rstrip("/")) or "download"
            name = posixpath.join(dest_abs, base) if dest_dir else dest_abs
            items.append(copying.CopyItem(name.lstrip("/"), "0", self.chmod if self.chmod is not None else 0o600,
                                          *(owner or (0, 0)), time.time(), size=os.path.getsize(path), source=path))
        return items

    # ---- the three ways to write it --------------------------------------------------------
    def _direct(self, contents, identity: str):
        """The layer written without a mount (solver/direct.py), _EMPTY for none, or None
        when the copy must go through the overlay."""
        from distill.image.layers.unpack import snapshot_id
        from distill.build.solver import direct
        from distill.build.solver.views import Unsuitable, view_of

        state = self.state
        # A copy made before with other content (an edit: it will be again) reads the base
        # unpacked, once for all later edits; a first one, or one before a RUN, as view_of says.
        again = self.s.cache.get_memo(identity) is not None
        if not again:
            self.s.cache.put_memo(identity, "copied")
        image = view_of(self.s.store, state.layers, state.diff_ids,
                        unpack=again or self.s.runs_later(self.stage, self.step))
        try:
            items = direct.entries(image, self._items(image, owner_ids(self.a.chown, image), contents, {}))
        except Unsuitable:
            return None
        if not items:
            return _EMPTY
        if direct.small(items):
            return self.s.layer_from_items(items)
        return direct.write(self.s.store, items, identity, {snapshot_id(i) for i in state.diff_ids},
                            self.source_snapshots)

    def _through_overlay(self, contents, downloads):
        from distill.image.layers.apply import Applier

        m = self.stack.enter_context(self.s.mounted(self.state))
        root = m.merged
        image = RootView(root)
        owner = owner_ids(self.a.chown, image)
        items = self._items(image, owner, contents, downloads)
        # the image's own symlinks resolve as inside the container (`..` stops at /)
        Applier(root, whiteouts="delete", clamp=True).apply_entries(items)
        if self.is_add and self.a.unpack is not False and self.tree is not None and self.tree is self.s.context_tree:
            add.extract(self.tree, self.sel, copying.dest_path(self.a.dest, self.state.workdir), root)
        return self.s.commit(m)

    def _copies(self) -> dict | None:
        """Where the sources came from and where they went, for the build record."""
        if self.tree is None:
            return None
        a = self.a
        if a.from_ is None:
            origin = {"context": True}
        elif a.from_.stage is not None:
            origin = {"stage": a.from_.stage}
        else:
            origin = {"image": a.from_.image}
        paths = [[src, dest] for src, dest in self.placed[:_MAX_PLACED]]
        return {"from": origin, "paths": paths, "truncated": len(self.placed) > _MAX_PLACED}


def copy_step(s: Session, stage: Stage, step: Step, state: StageState, label: str | None) -> None:
    CopyStep(s, stage, step, state, label).run()


def owner_ids(chown: str | None, image) -> tuple[int, int] | None:
    """--chown as ids: names looked up in the image the copy lands on; for --link there is
    none, so only numbers do."""
    if not chown:
        return None
    if image is None:
        user, _, group = chown.partition(":")
        if not user.isdigit() or (group and not group.isdigit()):
            raise DistillError(f"COPY --link --chown={chown}: names cannot be resolved without the image; use numbers")
        return int(user), int(group) if group else int(user)
    from distill.build.runtime.users import chown_ids

    return chown_ids(chown, image.read_text("/etc/passwd"), image.read_text("/etc/group"))
