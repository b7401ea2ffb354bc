"""What a plan is made of: pure data, ready to print as JSON or to build."""

from __future__ import annotations

from distill.build.dockerfile.instructions import Copy, Instruction, Run, Workdir
from distill.build.dockerfile.shell import Lexer, ShellError
from distill.record import Record
from distill.build.plan.steps import Args

SCRATCH, STAGE, IMAGE = "scratch", "stage", "image"


class Step(Record):
    instruction: Instruction
    args: Args                   # the instruction's arguments after expansion (plan/steps.py)
    env: tuple[tuple[str, str], ...] = ()   # ARG and ENV in effect for this step
    stage_deps: tuple[int, ...] = ()        # stages this step reads from
    image_deps: tuple[str, ...] = ()        # images this step reads from

    @property
    def keyword(self) -> str:
        return self.instruction.keyword

    @property
    def line(self) -> int:
        return self.instruction.line

    @property
    def env_map(self) -> dict[str, str]:
        return dict(self.env)


class Stage(Record):
    index: int
    name: str | None
    base: str                    # the FROM argument after expansion
    base_kind: str               # scratch | stage | image
    base_stage: int | None
    platform: str | None
    line: int
    steps: tuple[Step, ...]

    @property
    def ref(self) -> str:
        return self.name if self.name is not None else str(self.index)

    @property
    def deps(self) -> tuple[int, ...]:
        out = {self.base_stage} if self.base_stage is not None else set()
        for s in self.steps:
            out.update(s.stage_deps)
        return tuple(sorted(out))


def progress_labels(stage: Stage, alone: bool) -> tuple[str, list[str | None]]:
    """The prefixes BuildKit gives a stage's lines: `[NAME i/N]`, counting a FROM of an
    image and each RUN, COPY, ADD and WORKDIR. NAME is the stage's name, `stage-K` for an
    unnamed one, and nothing when the Dockerfile has one stage. Returns the FROM line's
    prefix and one per step (None for a step BuildKit shows no line for)."""
    name = "" if alone else stage.name if stage.name is not None else f"stage-{stage.index}"
    prefix = f"{name} " if name else ""
    counted = [isinstance(s.instruction, (Run, Copy, Workdir)) for s in stage.steps]
    from_counted = stage.base_kind == IMAGE
    total = from_counted + sum(counted)
    width = len(str(total))
    n = 0

    def next_label() -> str:
        nonlocal n
        n += 1
        return f"[{prefix}{n:>{width}}/{total}]"

    from_label = next_label() if from_counted else f"[{name}]" if name else ""
    return from_label, [next_label() if c else None for c in counted]


def progress_title(instr: Instruction, env: dict[str, str], escape: str) -> str:
    """A step's source line as BuildKit names it in progress: variables in scope expanded
    (for RUN, quotes kept and unset names left as written), the keyword upper-cased, a RUN
    that is one heredoc followed by the heredoc's first line."""
    run = isinstance(instr, Run)
    text = instr.original
    try:
        text = Lexer(escape, raw_quotes=run, skip_unset=run).process_word(text, env)
    except ShellError:
        pass  # shown as written, as BuildKit does
    keyword, sep, rest = text.partition(" ")
    text = keyword.upper() + sep + rest
    command = instr.text.strip() if run else ""
    if run and len(instr.heredocs) == 1 and command.startswith("<<") and " " not in command:
        lines = instr.heredocs[0].content.strip().splitlines() or [""]
        text += f" ({lines[0]}{'...' if len(lines) > 1 else ''})"
    return text[:200]


class Plan(Record):
    stages: tuple[Stage, ...]
    target: int
    build_order: tuple[int, ...]              # the stages the target needs, dependencies first
    global_args: tuple[tuple[str, str], ...]  # after --build-arg overrides
    warnings: tuple[str, ...] = ()

    @property
    def target_stage(self) -> Stage:
        return self.stages[self.target]

    def to_json(self) -> dict:
        return {
            "target": self.target_stage.ref,
            "builds": [self.stages[i].ref for i in self.build_order],
            "global_args": dict(self.global_args),
            "stages": [
                {
                    "index": s.index,
                    "name": s.name,
                    "from": {"ref": s.base, "kind": s.base_kind, "stage": s.base_stage, "platform": s.platform},
                    "line": s.line,
                    "depends_on": list(s.deps),
                    "built": s.index in self.build_order,
                    "steps": [{"line": st.line, "instruction": st.keyword, "args": st.args.to_json()} for st in s.steps],
                }
                for s in self.stages
            ],
            "warnings": list(self.warnings),
        }
