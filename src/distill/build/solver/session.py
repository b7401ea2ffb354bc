"""What every step of one build shares: the store, the options, the step cache, the
snapshotter, the context, the stages' results as they come, the counts and what each step
did (for the build record)."""

from __future__ import annotations

import os
import threading
from contextlib import ExitStack, contextmanager

from distill import platform as platforms
from distill.build.cache.steps import StepCache
from distill.config import now_rfc3339
from distill.build.context.ignore import Matcher
from distill.build.context.source import SourceTree, StatCache
from distill.digest import Sha256
from distill.errors import DistillError
from distill.build.solver.claims import claim, release
from distill.fs.files import read_bytes
from distill.build.plan.model import Stage, Step, progress_title
from distill.build.snapshot import snapshotter
from distill.build.solver.options import BuildOptions, StepFact
from distill.build.solver.state import StageState

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms of a start
if TYPE_CHECKING:
    from distill.image.layers.blob import Layer
    from distill.progress import Progress
    from distill.build.plan.steps import Source
    from distill.threads import Worker
    from distill.build.solver.bases import Bases

COMMENT = "distill.dockerfile.v0"


def comment(stage: Stage, line: int) -> str:
    """The history comment that ties a layer to its stage and line."""
    return f"{COMMENT} stage={stage.ref} line={line}"


class Session:
    def __init__(self, store, options: BuildOptions, bases: "Bases", progress: "Progress", remote=None,
                 cancelled: threading.Event | None = None):
        self.store = store
        self.o = options
        self.bases = bases
        self.platform = bases.platform
        self.progress = progress
        self.cache = StepCache(store, enabled=not options.no_cache, remote=remote)
        self.records: dict[int, dict[str, dict]] = {}  # stage index → step key → record, for --cache-to
        self.cancelled = cancelled or threading.Event()  # shared by the platforms of one build
        self.lock = threading.Lock()
        self.counts = {"executed": 0, "cached": 0}
        self.workers: dict[int, "Worker"] = {}        # stage index → the thread building it
        self.facts: dict[int, list[StepFact]] = {}    # stage index → what its steps did
        self.escape = "\\"  # the Dockerfile's escape character, once parsed
        self.slots = None  # the turns (solver/slots.py), set when the walk starts
        self.turn = threading.local()  # .held: this stage's thread has a turn
        self._snap = None
        self._networks = None
        self.on_miss = lambda stage, step: None  # told of each step that runs, before it does
        self.context_tree = self._context_tree()

    def _context_tree(self) -> SourceTree | None:
        ctx = self.o.context
        if ctx is None:
            return None
        ignore_text = ""
        named = f"{self.o.dockerfile_path}.dockerignore"
        for candidate in (named, os.path.join(ctx, ".dockerignore")):
            if self.o.dockerfile_path != "-" and os.path.isfile(candidate):
                ignore_text = read_bytes(candidate).decode(errors="replace")
                break
        ctx = os.path.realpath(ctx)
        key = Sha256(ctx.encode()).hexdigest()[:32]
        cache = StatCache(self.store.path("cache", "context", f"{key}.json"))
        return SourceTree(ctx, Matcher.from_text(ignore_text), is_context=True, stat_cache=cache)

    # ---- other stages and images ------------------------------------------------------
    def stage_state(self, index: int) -> StageState:
        """A stage's final state, once its thread has built it. A stage waits for another
        only at the step that reads it, as BuildKit schedules; while it waits, its turn
        goes to another stage (the one it waits for may need it)."""
        worker = self.workers[index]
        if worker.done.is_set() or not getattr(self.turn, "held", False):
            return worker.result()
        self.slots.release()
        self.turn.held = False
        try:
            worker.done.wait()
        finally:
            if not self.slots.acquire(self.cancelled):
                raise DistillError("build cancelled")
            self.turn.held = True
        return worker.result()

    def take_turn(self) -> None:
        """Waits for a turn to run steps (solver/slots.py)."""
        if not self.slots.acquire(self.cancelled):
            raise DistillError("build cancelled")
        self.turn.held = True

    def release_claims(self) -> None:
        """The steps this thread claimed (claims.py): their records are written, or they failed."""
        for key in getattr(self.turn, "claims", ()):
            release(key)
        self.turn.claims = []

    def end_turn(self) -> None:
        if getattr(self.turn, "held", False):
            self.turn.held = False
            self.slots.release()

    def source_state(self, source: "Source") -> StageState:
        """What a `from` names (COPY --from, RUN --mount from=): a stage or an image."""
        if source.stage is not None:
            return self.stage_state(source.stage)
        return StageState.from_image(self.bases.image(source.image), self.platform)

    @staticmethod
    def runs_later(stage: Stage, step: Step) -> bool:
        """Whether a RUN follows `step` in its stage: it will mount (so unpack) the stage's
        layers anyway, and a step before it may as well use them unpacked."""
        from distill.build.dockerfile.instructions import Run

        later = stage.steps[stage.steps.index(step) + 1:]
        return any(isinstance(st.instruction, Run) for st in later)

    # ---- file systems -------------------------------------------------------------------
    @property
    def snap(self):
        if self._snap is None:  # probing overlayfs costs a mount: only when a step needs one
            self._snap = snapshotter(self.store)
        return self._snap

    def materialize(self, state: StageState) -> None:
        """The state's layers in the store: those a shared cache's hits named are fetched
        now, when a step stands on them (cache/remote.py)."""
        if self.cache.remote is not None:
            self.cache.remote.materialize(self.store, state.layers, state.diff_ids, self.progress)

    def adopt_shared(self) -> None:
        """The records this build took from a shared cache become the store's own, where
        the store now holds their layers."""
        if self.cache.remote is None:
            return
        for records in self.records.values():
            for key, record in records.items():
                if not record.get("layer") or self.store.has_blob(record["layer"]["digest"]):
                    self.cache.put(key, record)

    @contextmanager
    def mounted(self, state: StageState):
        self.materialize(state)
        with self.snap.mount(list(zip(state.layers, state.diff_ids))) as m:
            yield m

    @contextmanager
    def viewed(self, state: StageState):
        """The state's tree to read only, where the snapshotter has it at hand; else None."""
        self.materialize(state)
        with self.snap.view(list(zip(state.layers, state.diff_ids))) as root:
            yield root

    def commit(self, m) -> "Layer | None":
        """A mount's changes as a layer (None when nothing changed), kept as its snapshot."""
        from distill.image.layers.blob import write_layer
        from distill.image.layers.unpack import adopt

        upper = m.changes()
        if not os.listdir(upper):
            m.settle(None)
            return None
        layer = write_layer(self.store, upper, overlay_upper=True)
        adopt(self.store, layer.diff_id, upper)  # the upper dir is the layer in overlay form already
        m.settle(layer)
        return layer

    def layer_from_items(self, items) -> "Layer | None":
        from distill.image.layers.blob import layer_from
        from distill.build.solver.copy import write_tar

        if not items:
            return None
        rows: list = []
        return layer_from(self.store, lambda sink: write_tar(items, sink, rows=rows), rows=rows)

    def network(self, stack: ExitStack, mode: str, directory: str):
        """A RUN step's network (runtime/network.py), ended when `stack` closes; private
        ones come from the build's pool, made ahead."""
        from distill.build.runtime.network import Network

        if mode != "private":
            net = stack.enter_context(Network(mode, directory))
            net.start()
            return net
        net = self._pool().take()
        stack.callback(self._networks.give_back, net)
        return net

    def _pool(self):
        from distill.build.runtime.network import Pool

        with self.lock:
            if self._networks is None:
                from distill.fs.atomic import temp_dir

                self._networks = Pool(temp_dir(self.store.tmp_dir, "nets-"))
            return self._networks

    def network_ahead(self) -> None:
        """A private network starts making now, for a RUN a few steps on (its first one
        in a process sets the bridge's rules too: ~30 ms a step would otherwise wait)."""
        self._pool().ahead()

    def close(self) -> None:
        """Ends what the build started for its steps (the pool's networks, the trees kept)."""
        if self._snap is not None:
            self._snap.close()
        if self._networks is not None:
            from distill.fs.atomic import remove_tree

            self._networks.close()
            remove_tree(self._networks.directory)
            self._networks = None

    def scratch_dir(self, stack: ExitStack, prefix: str) -> str:
        """A directory in the store's tmp/ that goes when `stack` closes."""
        from distill.fs.atomic import remove_tree, temp_dir

        d = temp_dir(self.store.tmp_dir, prefix)
        stack.callback(remove_tree, d)
        return d

    # ---- a step's outcome ----------------------------------------------------------------
    def progress_step(self, label: str | None, step: Step):
        return self.progress.step(f"{label} {progress_title(step.instruction, step.env_map, self.escape)}")

    def cached(self, state: StageState, key: str, created_by: str, stage: Stage, step: Step, progress) -> bool:
        """Takes the step from the cache when its key is there."""
        record = self.cache.get(key)
        while record is None:
            if claim(key, self.cancelled):  # this thread runs it (released after the step: release_claims)
                self.turn.claims = getattr(self.turn, "claims", []) + [key]
                self.materialize(state)  # the step runs, on the layers so far
                self.on_miss(stage, step)
                return False
            record = self.cache.get(key)  # another build of this process ran it meanwhile
        self._apply(state, key, record, created_by, stage, step, cached=True)
        progress.cached()
        with self.lock:
            self.counts["cached"] += 1
        return True

    def finish(self, state: StageState, key: str, layer: "Layer | None", created_by: str, stage: Stage, step: Step,
               progress, created: str | None = None, copies: dict | None = None) -> None:
        """A step that ran: its cache record written, its layer added to the stage."""
        record = {"layer": layer.descriptor if layer else None, "diff_id": layer.diff_id if layer else None,
                  "created": created or now_rfc3339()}
        if copies is not None:
            record["copies"] = copies
        self.cache.put(key, record)
        self._apply(state, key, record, created_by, stage, step, cached=False)
        progress.done()
        with self.lock:
            self.counts["executed"] += 1

    def _apply(self, state: StageState, key: str, record: dict, created_by: str, stage: Stage, step: Step,
               cached: bool) -> None:
        with self.lock:
            self.records.setdefault(stage.index, {})[key] = record
        layer = record["layer"]
        if layer:
            state.layers.append(layer)
            state.diff_ids.append(record["diff_id"])
        state.add_history(created_by, comment(stage, step.line), empty_layer=not layer, created=record["created"])
        state.key = key
        copies = record.get("copies")
        self.note(stage, step, layer["digest"] if layer else None, cached, copies if isinstance(copies, dict) else None)

    def note(self, stage: Stage, step: Step, layer: str | None = None, cached: bool | None = None,
             copies: dict | None = None) -> None:
        instr = step.instruction
        self.facts.setdefault(stage.index, []).append(
            StepFact(instr.line, instr.end_line, instr.original, layer, cached, copies))


def platform_of(options: BuildOptions):
    """The platform built for (a foreign one's RUN steps run under an emulator: runtime/binfmt.py)."""
    return platforms.parse(options.platform) if options.platform else platforms.host()
