"""What a build is asked to do, and what it returns."""

from __future__ import annotations

from distill.errors import DistillError
from distill.record import Record, fresh

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms of a start
if TYPE_CHECKING:
    from distill.build.dockerfile.ast import Result
    from distill.build.plan import Plan
    from distill.progress import Progress
    from distill.build.solver.state import StageState


class BuildError(DistillError):
    """A step failed; its message already names the Dockerfile line."""


class BuildOptions(Record, frozen=False):
    dockerfile: bytes
    dockerfile_path: str = "Dockerfile"
    context: str | None = None
    build_args: dict = fresh(dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str = "default"
    allow: tuple = ()             # entitlements: network.host, security.insecure
    labels: dict = fresh(dict)
    platform: str | None = None
    insecure: tuple = ()
    jobs: int | None = None  # None: the CPU count, elastic (solver.slots)
    secrets: dict = fresh(dict)   # id → {"src": path} or {"env": NAME}
    ssh: dict = fresh(dict)       # id → agent socket path (--ssh default=PATH)
    cache_from: tuple = ()        # cache/spec.py's CacheSpecs to consult
    cache_to: tuple = ()          # and to write
    progress: "Progress | None" = None
    parsed: "Result | None" = None   # the Dockerfile's syntax tree, made once: syntax()

    def syntax(self) -> "Result":
        """The Dockerfile parsed, once for the whole build: the solver plans from it, the
        build's lint reads it. Readers copy what they change."""
        if self.parsed is None:
            from distill.build.dockerfile.parser import parse

            self.parsed = parse(self.dockerfile, self.dockerfile_path)
        return self.parsed


class StepFact(Record):
    """What one step did, for the build record: the layer it made (or None), and whether
    it came from the cache (None for a step that only sets config)."""

    line: int
    end_line: int
    instruction: str
    layer: str | None = None
    cached: bool | None = None
    copies: dict | None = None  # COPY/ADD: where its sources came from and where they went


class BuildResult(Record, frozen=False):
    state: "StageState"                       # the target stage's
    plan: "Plan"
    stage_times: dict[str, tuple[float, float]]
    executed: int
    cached: int
    stages: dict = fresh(dict)                # stage index → StageState, for every stage built
    facts: dict = fresh(dict)                 # stage index → [StepFact]
    bases: dict = fresh(dict)                 # image reference → manifest digest, as resolved
    records: dict = fresh(dict)               # stage index → step key → cache record, for --cache-to
    memos: dict = fresh(dict)                 # the content memos other machines need for the same keys
