"""Base images: found in the store or pulled (through a function the caller gives, so the
solver never reaches back into the API), and the plan made with what they say: their ENV,
and the ONBUILD triggers they hand to the stages built on them."""

from __future__ import annotations

import threading

from distill import platform as platforms
from distill.config import with_default_path
from distill.build.dockerfile import instructions as ins
from distill.build.dockerfile.ast import Result
from distill.build.dockerfile.parser import node_from_line
from distill.errors import DistillError, DockerfileError
from distill.image.store.images import Image, lookup
from distill.build.plan import Plan, make_plan
from distill.build.plan.model import IMAGE, STAGE
from distill.build.solver.options import BuildOptions

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms of a start
if TYPE_CHECKING:
    from collections.abc import Callable

    # pull(store, reference, platform text, insecure registries, unpack): stores the image;
    # with unpack, each layer is unpacked as it arrives (a RUN will stand on it)
    Pull = Callable[[object, str, str, tuple, bool], object]


def _near_stage(ref: str, stages) -> str | None:
    """The stage a `--from` naming no stage may have meant: a bare name (docker.io/library/
    NAME:latest once expanded) close to a stage's."""
    from distill.suggest import closest

    if not (ref.startswith("docker.io/library/") and ref.endswith(":latest")):
        return None
    return closest(ref[len("docker.io/library/"):-len(":latest")], [s.name for s in stages if s.name])


def stage_platform(stage):
    """The platform a stage's FROM --platform names (None: the build's)."""
    return platforms.parse(stage.platform) if stage.platform else None


def _run_on(plan, platform) -> set[tuple]:
    """The base images (reference, platform text) that a stage built runs a RUN on, itself
    or through a stage built FROM it; `platform`, the build's."""
    out = set()
    for i in plan.build_order:
        s = plan.stages[i]
        if not any(isinstance(st.instruction, ins.Run) for st in s.steps):
            continue
        while s.base_kind == STAGE:
            s = plan.stages[s.base_stage]
        if s.base_kind == IMAGE:
            out.add((s.base, str(stage_platform(s) or platform)))
    return out


class Bases:
    def __init__(self, store, options: BuildOptions, platform, pull: "Pull | None", progress):
        self.store = store
        self.o = options
        self.platform = platform
        self.pull = pull
        self.progress = progress
        self.images: dict[str, Image] = {}
        self.named_at: dict[str, tuple] = {}  # reference -> (Dockerfile line, the stage it may mean)
        self.run_on: set[tuple] = set()  # (reference, platform) a RUN stands on: unpacked as it is pulled
        self.lock = threading.Lock()

    def image(self, ref: str, platform=None) -> Image:
        """The image `ref` names for `platform` (the build's by default: a stage's FROM
        --platform names another): from the store, else (or with --pull) from its registry."""
        platform = platform or self.platform
        key = (ref, str(platform))
        with self.lock:
            if key in self.images:
                return self.images[key]
        img = None
        if not self.o.pull:
            try:
                img = lookup(self.store, ref, platform)
            except DistillError:
                img = None
        if img is None:
            img = self._pulled(ref, platform)
        with self.lock:
            self.images[key] = img
        return img

    def _pulled(self, ref: str, platform) -> Image:
        if self.pull is None:
            raise DistillError(f"base image {ref}: not in the store, and this build may not pull")
        step = self.progress.step(f"[internal] pull {ref}" + ("" if platform == self.platform else f" ({platform})"))
        try:
            self.pull(self.store, ref, str(platform), self.o.insecure, (ref, str(platform)) in self.run_on)
        except DistillError as e:
            line, stage = self.named_at.get(ref, (None, None))
            where = f"{self.o.dockerfile_path}:{line}: " if line else ""
            if stage is not None:  # COPY --from=biuld: a stage's name misspelt, most likely
                raise DockerfileError(f"no stage named {ref.rsplit('/', 1)[-1].split(':')[0]}; did you mean {stage}? "
                                      f"(as an image, {ref} is not in the store and its registry did not give it)",
                                      line, path=self.o.dockerfile_path) from None
            hint = ""
            if ref.startswith("docker.io/") and "ConnectError" in str(e):
                hint = " (Docker Hub unreachable? `distill bootstrap` makes Debian bases offline)"
            raise DistillError(f"{where}base image {ref}: not in the store, and its registry did not give it: "
                               f"{e}{hint}") from None
        step.done()
        return lookup(self.store, ref, platform)

    def fetch_all(self, refs: list[tuple]) -> None:
        """Every base the target needs ((reference, platform or None)), found or pulled at
        the start, at once: a stage that starts later finds its base ready."""
        if len(refs) < 2:
            for ref, platform in refs:
                self.image(ref, platform)
            return
        from distill.threads import Worker

        workers = []
        try:
            for ref, platform in refs:
                workers.append(Worker(self.image, ref, platform).start())
        finally:
            for w in workers:
                w.wait()
        for w in workers:
            w.result()

    def env(self, ref: str, platform: str | None = None):
        """A base's ENV (the planner's base_env); `platform` as FROM --platform wrote it."""
        img = self.images.get((ref, str(platforms.parse(platform) if platform else self.platform)))
        return with_default_path((img.config.get("config") or {}).get("Env")) if img else None

    def digests(self) -> dict[str, str]:
        """Each base reference (and platform, when not the build's) and the manifest it
        resolved to."""
        with self.lock:
            return {ref if plat == str(self.platform) else f"{ref} ({plat})": img.manifest_digest
                    for (ref, plat), img in self.images.items()}

    def plan(self) -> tuple[Plan, str]:
        """The plan, made twice: once to learn the base images, again with their ENV and
        with the ONBUILD triggers of each base image, or base stage's ONBUILD instructions,
        inserted after FROM (they fire once). Returns it and the escape character."""
        parsed = self.o.syntax()  # ONBUILD triggers go into a copy: lint reads the Dockerfile as written
        result = Result(list(parsed.nodes), parsed.escape, list(parsed.warnings), dict(parsed.directives))
        args = dict(self.o.build_args)
        host = platforms.host()
        first = make_plan(result, args, self.o.target, self.platform, host, path=self.o.dockerfile_path)
        needed: set[tuple] = set()
        for i in first.build_order:
            s = first.stages[i]
            if s.base_kind == IMAGE:
                needed.add((s.base, stage_platform(s)))
                self.named_at.setdefault(s.base, (s.line, None))
            for st in s.steps:
                needed.update((d, None) for d in st.image_deps)
                for d in st.image_deps:
                    self.named_at.setdefault(d, (st.line, _near_stage(d, first.stages)))
        self.run_on = _run_on(first, self.platform)
        self.fetch_all(sorted(needed))
        froms = [n for n in result.nodes if n.value == "from"]
        for i in first.build_order:
            s = first.stages[i]
            if s.base_kind == IMAGE:
                triggers = (self.image(s.base, stage_platform(s)).config.get("config") or {}).get("OnBuild") or []
            elif s.base_kind == STAGE:
                triggers = [st.instruction.trigger for st in first.stages[s.base_stage].steps
                            if isinstance(st.instruction, ins.Onbuild)]
            else:
                continue
            if triggers:
                at = result.nodes.index(froms[i]) + 1
                for t in reversed(triggers):
                    node = node_from_line(t, result.escape)
                    node.start_line = node.end_line = froms[i].start_line
                    result.nodes.insert(at, node)
        plan = make_plan(result, args, self.o.target, self.platform, host, base_env=self.env,
                         path=self.o.dockerfile_path)
        return plan.replace(warnings=plan.warnings + tuple(self._platform_warnings())), result.escape

    def _platform_warnings(self):
        """A base that is one image of another platform than asked for is used, as
        BuildKit does, with its warning (InvalidBaseImagePlatform)."""
        for (ref, asked), img in sorted(self.images.items()):
            conf = img.config
            have = platforms.Platform(str(conf.get("os") or "linux"), str(conf.get("architecture") or "?"))
            if not platforms.parse(asked).matches(have.as_dict()):
                yield f"InvalidBaseImagePlatform: base image {ref} is for {have}, not {asked} as this build asks"
