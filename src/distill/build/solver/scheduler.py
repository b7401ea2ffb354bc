"""The builder: plans (solver/bases.py), runs every needed stage in a thread of its own
once its dependencies are built and it has a turn (solver/slots.py), and hands each step
to what executes it: config steps (metadata.py), RUN (run.py), COPY and ADD
(copy_step.py), WORKDIR (workdir.py)."""

from __future__ import annotations

import threading
import time

from distill.build.cache.remote import CacheBroken
from distill.build.cache.steps import step_key
from distill.build.dockerfile import instructions as ins
from distill.errors import DistillError, DockerfileError
from distill.build.plan import Plan
from distill.build.plan.model import SCRATCH, STAGE, Stage, Step, progress_labels
from distill.threads import Worker
from distill.build.solver import entitlements, metadata
from distill.build.solver.bases import Bases, stage_platform
from distill.build.solver.copy_step import copy_step
from distill.build.solver.options import BuildError, BuildOptions, BuildResult
from distill.build.solver.run import network_ahead, run_step
from distill.build.solver.session import Session, comment, platform_of
from distill.build.solver.slots import Slots, cpu_count
from distill.build.solver.state import StageState
from distill.build.solver.workdir import workdir_step

# the steps that execute something; every other step only changes the config
EXECUTORS = ((ins.Run, run_step), (ins.Copy, copy_step), (ins.Workdir, workdir_step))


class Builder:
    def __init__(self, store, options: BuildOptions, pull=None, remote=None, cancelled=None):
        """`pull(store, reference, platform, insecure)` fetches a base image the store
        lacks; without it, such a build fails with a clear error. `remote`: the shared
        caches to consult (cache/remote.py). `cancelled`: an event that stops it (shared
        by the platforms of one build)."""
        from distill.progress import Progress

        progress = options.progress or Progress("quiet")
        self.s = Session(store, options, Bases(store, options, platform_of(options), pull, progress), progress,
                         remote, cancelled)
        self.s.on_miss = lambda stage, step: network_ahead(self.s, stage, step)
        self.bases = self.s.bases
        self.timings: dict[str, tuple[float, float]] = {}

    def build(self) -> BuildResult:
        s = self.s
        plan, s.escape = self.bases.plan()
        entitlements.check(plan, s.o.allow, s.o.dockerfile_path)
        s.slots = Slots(s.o.jobs or cpu_count(), elastic=not s.o.jobs)
        ended = threading.Event()
        try:
            # held before started, inside the try: an interrupt that lands between two
            # starts must still wait for the stages already running (one may be mounting).
            # Dependencies come first, so no started stage waits for one never started.
            for i in plan.build_order:
                s.workers[i] = w = Worker(self._run_stage, plan, plan.stages[i], ended=ended)
                w.start()
            pending = list(s.workers.values())
            while pending:
                # short waits: a signal may go to a worker thread, and only the main
                # thread runs Python's handlers, between bytecodes
                ended.wait(0.2)
                ended.clear()
                for t in [t for t in pending if t.done.is_set()]:
                    pending.remove(t)
                    t.result()  # a failed stage raises here
            final = s.workers[plan.target].result()
            s.materialize(final)  # the image holds its layers, wherever its steps came from
        except BaseException:
            # an interrupt or a failed stage: stop the others, and wait for them
            s.cancelled.set()  # running containers see it and are killed
            for t in s.workers.values():
                t.wait()
            raise
        finally:
            s.close()
        if s.context_tree:
            s.context_tree.cache.save()
        s.adopt_shared()
        return BuildResult(final, plan, self.timings, s.counts["executed"], s.counts["cached"],
                           {i: w.result() for i, w in s.workers.items()}, dict(s.facts), self.bases.digests(),
                           dict(s.records), dict(s.cache.shared))

    def _run_stage(self, plan: Plan, stage: Stage) -> StageState:
        # a stage starts once its base is ready; it waits for another stage it reads only
        # at the step that reads it (Session.stage_state), as BuildKit schedules steps
        if stage.base_stage is not None:
            self.s.stage_state(stage.base_stage)
        self.s.take_turn()
        try:
            return self._run_stage_steps(plan, stage)
        finally:
            self.s.end_turn()

    def _run_stage_steps(self, plan: Plan, stage: Stage) -> StageState:
        s = self.s
        start = time.time()
        platform = stage_platform(stage) or s.platform
        if stage.base_kind == SCRATCH:
            state = StageState.scratch(platform)
        elif stage.base_kind == STAGE:
            state = s.stage_state(stage.base_stage).clone()
        else:
            state = StageState.from_image(self.bases.image(stage.base, platform), platform)
        state.config.pop("OnBuild", None)  # the triggers run in this stage, not handed on
        s.facts[stage.index] = []
        from_label, labels = progress_labels(stage, alone=len(plan.stages) == 1)
        s.progress.message(" ".join(p for p in ("#0", from_label, "FROM", stage.base) if p))
        for step, label in zip(stage.steps, labels):
            if s.cancelled.is_set():
                raise DistillError("build cancelled")
            try:
                self._step(stage, step, state, label)
            except (DockerfileError, BuildError, CacheBroken):  # located already, or the build's to handle
                raise
            except DistillError as e:
                raise BuildError(f"{s.o.dockerfile_path}:{step.line}: {e}") from None
            finally:
                s.release_claims()
        self.timings[stage.ref] = (start, time.time())
        return state

    def _step(self, stage: Stage, step: Step, state: StageState, label: str | None) -> None:
        """One step; `label` prefixes its progress line (BuildKit's `[stage i/n]`)."""
        for kind, execute in EXECUTORS:
            if isinstance(step.instruction, kind):
                return execute(self.s, stage, step, state, label)
        created_by = metadata.apply(step, state)
        state.key = step_key(state.key, step.instruction.keyword, step.args.to_json())
        state.add_history(created_by, comment(stage, step.line), empty_layer=True)
        self.s.note(stage, step)
