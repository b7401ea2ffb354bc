"""Dockerfile → Plan. Pure: the only outside knowledge is an optional `base_env` callback
giving a base image's ENV (the builder passes it; `distill parse` does without)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping

from distill import platform as platforms
from distill.image.oci import reference
from distill.build.dockerfile import instructions as ins
from distill.build.dockerfile.ast import Result
from distill.build.dockerfile.parser import parse
from distill.build.dockerfile.shell import Lexer, ShellError
from distill.errors import DistillError, DockerfileError
from distill.build.plan.args import PREDEFINED, platform_args
from distill.build.plan import steps as args
from distill.build.plan.model import IMAGE, SCRATCH, STAGE, Plan, Stage, Step
from distill.build.plan.ports import exposed_ports
from distill.build.plan.signals import valid_signal

BaseEnv = Callable[[str, "str | None"], "list[str] | None"]  # (reference, FROM --platform)


def make_plan(source: str | bytes | Result, build_args: Mapping[str, str] | None = None, target: str | None = None,
              target_platform: platforms.Platform | None = None, build_platform: platforms.Platform | None = None,
              base_env: BaseEnv | None = None, path: str = "Dockerfile") -> Plan:
    result = source if isinstance(source, Result) else parse(source, path)
    try:
        return _Planner(result, dict(build_args or {}), target, target_platform or platforms.host(),
                        build_platform or platforms.host(), base_env).run()
    except DockerfileError as e:
        raise e.at(path) from None


def _split_env(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


class _Planner:
    def __init__(self, result: Result, build_args: dict[str, str], target: str | None,
                 target_platform, build_platform, base_env: BaseEnv | None):
        self.result = result
        self.lexer = Lexer(result.escape)
        self.build_args = build_args
        self.target = target
        self.platform_args = platform_args(target_platform, build_platform)
        self.base_env = base_env
        self.declared: set[str] = set()

    # ---- expansion ------------------------------------------------------------
    def word(self, text: str, env: Mapping[str, str], instr: ins.Instruction) -> str:
        try:
            return self.lexer.process_word(text, env)
        except ShellError as e:
            raise DockerfileError(str(e), instr.line, instr.end_line) from None

    def words(self, text: str, env: Mapping[str, str], instr: ins.Instruction) -> list[str]:
        try:
            return self.lexer.process_words(text, env)
        except ShellError as e:
            raise DockerfileError(str(e), instr.line, instr.end_line) from None

    # ---- the walk --------------------------------------------------------------
    def run(self) -> Plan:
        typed = [ins.from_node(n) for n in self.result.nodes]
        global_args: dict[str, str | None] = {}
        i = 0
        while i < len(typed) and isinstance(typed[i], ins.Arg):
            for name, default in typed[i].args:
                self.declared.add(name)
                env = {**self.platform_args, **{k: v for k, v in global_args.items() if v is not None}}
                if name in self.build_args:
                    global_args[name] = self.build_args[name]
                elif default is not None:
                    global_args[name] = self.word(default, env, typed[i])
                else:
                    global_args[name] = None
            i += 1
        if i < len(typed) and not isinstance(typed[i], ins.From):
            bad = typed[i]
            raise DockerfileError(f"no build stage in current context: {bad.keyword} before the first FROM",
                                  bad.line, bad.end_line)
        self.global_args = global_args
        self.global_env = {**self.platform_args, **{k: v for k, v in global_args.items() if v is not None}}

        # group into stages
        groups: list[tuple[ins.From, list[ins.Instruction]]] = []
        for instr in typed[i:]:
            if isinstance(instr, ins.From):
                groups.append((instr, []))
            else:
                groups[-1][1].append(instr)
        if not groups:
            raise DockerfileError("no build stage: the Dockerfile has no FROM")

        names: dict[str, int] = {}
        all_names = {}
        for idx, (frm, _) in enumerate(groups):
            if frm.stage_name:
                name = self.word(frm.stage_name, self.global_env, frm).lower()
                if "$" in frm.stage_name:  # names written plainly were checked by the parser
                    try:
                        ins.check_stage_name(name)
                    except DockerfileError as e:
                        raise DockerfileError(e.message, frm.line, frm.end_line) from None
                if name in all_names:
                    raise DockerfileError(f"duplicate stage name {name!r} (first at line {groups[all_names[name]][0].line})",
                                          frm.line, frm.end_line)
                all_names[name] = idx

        stages: list[Stage] = []
        # per stage, as it ends, what a stage built on it starts from: ENV, the build
        # environment, the declared ARGs, the workdir
        self.stage_ends: list[tuple[dict[str, str], dict[str, str], list[str], str]] = []
        for idx, (frm, body) in enumerate(groups):
            stage = self.stage(idx, frm, body, names, all_names, stages)
            stages.append(stage)
            if stage.name:
                names[stage.name] = idx

        target_idx = len(stages) - 1
        if self.target is not None:
            t = self.target.lower()
            if t not in names:
                raise DockerfileError(f"target stage {self.target!r} could not be found")
            target_idx = names[t]
        order = self.closure(stages, target_idx)
        warnings = list(self.result.warnings)
        unused = sorted(k for k in self.build_args
                        if k not in self.declared and k not in PREDEFINED and k not in self.platform_args)
        if unused:
            warnings.append(f"build-args were not consumed: {', '.join(unused)}")
        return Plan(tuple(stages), target_idx, order,
                    tuple((k, v) for k, v in global_args.items() if v is not None), tuple(warnings))

    @staticmethod
    def closure(stages: list[Stage], target: int) -> tuple[int, ...]:
        need, todo = set(), [target]
        while todo:
            s = todo.pop()
            if s not in need:
                need.add(s)
                todo.extend(stages[s].deps)
        return tuple(sorted(need))  # a stage only depends on earlier ones

    def resolve_stage_ref(self, ref: str, idx: int, names: dict[str, int], all_names: dict[str, int],
                          instr: ins.Instruction, numeric: bool) -> int | None:
        """A stage index for `ref`, None if it names an image; errors for self/later stages."""
        low = ref.lower()
        if low in names:
            return names[low]
        if low in all_names:
            other = all_names[low]
            if other == idx:
                raise DockerfileError(f"stage {ref!r} refers to itself", instr.line, instr.end_line)
            raise DockerfileError(f"stage {ref!r} is defined later (line {self._stage_line(other)}): "
                                  "a stage can only use stages before it", instr.line, instr.end_line)
        if numeric and ref.isdigit():
            n = int(ref)
            if n >= idx:
                raise DockerfileError(f"invalid stage index {n}: refers to the current or a later stage",
                                      instr.line, instr.end_line)
            return n
        return None

    def _stage_line(self, idx: int) -> int:
        froms = [n for n in self.result.nodes if n.value == "from"]
        return froms[idx].start_line

    def image_ref(self, text: str, instr: ins.Instruction) -> str:
        try:
            return str(reference.parse(text))
        except DistillError as e:
            raise DockerfileError(str(e), instr.line, instr.end_line) from None

    def stage(self, idx, frm: ins.From, body, names, all_names, done: list[Stage]) -> Stage:
        base = self.word(frm.image, self.global_env, frm)
        if not base:
            raise DockerfileError("FROM needs a base image: the argument expanded to nothing", frm.line)
        platform = self.word(frm.platform, self.global_env, frm) if frm.platform else None
        name = self.word(frm.stage_name, self.global_env, frm).lower() if frm.stage_name else None
        # As BuildKit keeps them: `scope` is the build's environment, where ENV and an ARG
        # with a value both write and the later write wins; `env` is ENV alone (the image
        # config's). A stage built on a stage inherits its scope (ARG values included, the
        # config's ENV applied over them) and its declared ARGs.
        env: dict[str, str] = {}
        scope: dict[str, str] = {}
        declared: list[str] = []
        workdir = "/"
        if base.lower() == "scratch":
            kind, base_stage = SCRATCH, None
        else:
            base_stage = self.resolve_stage_ref(base, idx, names, all_names, frm, numeric=False)
            if base_stage is not None:
                kind = STAGE
                env, scope, declared, workdir = self.stage_ends[base_stage]
                env, scope, declared = dict(env), {**scope, **env}, list(declared)
            else:
                kind = IMAGE
                base = self.image_ref(base, frm)
                if self.base_env:
                    env = _split_env(self.base_env(base, platform))
                scope = dict(env)
        steps = []
        for instr in body:
            step_args, stage_deps, image_deps = None, (), ()
            if isinstance(instr, ins.Arg):
                values = []
                for aname, default in instr.args:
                    self.declared.add(aname)
                    if aname in self.build_args:
                        value = self.build_args[aname]
                    elif default is not None:
                        value = self.word(default, scope, instr)
                    elif self.global_args.get(aname) is not None:
                        value = self.global_args[aname]
                    else:
                        value = self.platform_args.get(aname)
                    if value is not None:
                        scope[aname] = value
                    declared.append(aname)
                    values.append((aname, value))
                step_args = args.ArgArgs(tuple(values))
            elif isinstance(instr, ins.KeyValues):
                pairs = []
                for k, v in instr.pairs:
                    k2, v2 = self.word(k, scope, instr), self.word(v, scope, instr)
                    pairs.append((k2, v2))
                    if isinstance(instr, ins.Env):
                        env[k2] = scope[k2] = v2
                step_args = args.KeyValueArgs(tuple(pairs))
            elif isinstance(instr, ins.Workdir):
                path = self.word(instr.path, scope, instr)
                workdir = posixpath.normpath(posixpath.join(workdir, path))
                if workdir.startswith("//"):
                    workdir = "/" + workdir.lstrip("/")
                step_args = args.WorkdirArgs(workdir)
            elif isinstance(instr, ins.User):
                step_args = args.UserArgs(self.word(instr.user, scope, instr))
            elif isinstance(instr, ins.StopSignal):
                step_args = args.StopSignalArgs(self.word(instr.signal, scope, instr))
                if not valid_signal(step_args.signal):
                    raise DockerfileError(f"Invalid signal: {step_args.signal}", instr.line, instr.end_line)
            elif isinstance(instr, ins.Expose):
                try:
                    ports = [k for port in instr.ports for p in self.words(port, scope, instr) for k in exposed_ports(p)]
                except ValueError as e:
                    raise DockerfileError(f"EXPOSE: {e}", instr.line, instr.end_line) from None
                step_args = args.ExposeArgs(tuple(dict.fromkeys(ports)))
            elif isinstance(instr, ins.Volume):
                step_args = args.VolumeArgs(tuple(self.word(p, scope, instr) for p in instr.paths))
            elif isinstance(instr, ins.Copy):
                step_args, stage_deps, image_deps = self.copy_args(instr, scope, idx, names, all_names)
            elif isinstance(instr, ins.Run):
                step_args, stage_deps, image_deps = self.run_args(instr, scope, idx, names, all_names)
                # the ARGs in scope, as RUN's history shows them: each once, at its first place
                step_args = step_args.replace(build_args=tuple((k, scope.get(k, "")) for k in dict.fromkeys(declared)))
            elif isinstance(instr, ins.Command):
                step_args = args.CommandArgs(instr.shell_form, instr.args)
            elif isinstance(instr, ins.Shell):
                step_args = args.ShellArgs(instr.shell)
            elif isinstance(instr, ins.Healthcheck):
                step_args = args.HealthcheckArgs(instr.test or None, instr.interval, instr.timeout, instr.start_period,
                                                 instr.start_interval, instr.retries)
            elif isinstance(instr, ins.Onbuild):
                step_args = args.OnbuildArgs(instr.trigger)
            elif isinstance(instr, ins.Maintainer):
                step_args = args.MaintainerArgs(instr.name)
            steps.append(Step(instr, step_args, tuple(sorted(scope.items())), stage_deps, image_deps))
        self.stage_ends.append((env, scope, declared, workdir))
        return Stage(idx, name, base, kind, base_stage, platform, frm.line, tuple(steps))

    def source_ref(self, text: str, scope, idx, names, all_names, instr) -> args.Source:
        """What a --from names: an earlier stage, else an image."""
        src = self.word(text, scope, instr)
        n = self.resolve_stage_ref(src, idx, names, all_names, instr, numeric=True)
        return args.Source(stage=n) if n is not None else args.Source(image=self.image_ref(src, instr))

    def copy_args(self, instr: ins.Copy, scope, idx, names, all_names):
        heredoc_names = {f"<<{h.name}" for h in instr.heredocs} | {f"<<-{h.name}" for h in instr.heredocs}
        sources = []
        for s in instr.sources:
            if s in heredoc_names or s.startswith("<<") and instr.heredocs:
                sources.append(s)
            else:
                sources.append(self.word(s, scope, instr))
        common = dict(
            sources=tuple(sources),
            dest=self.word(instr.dest, scope, instr),
            chown=self.word(instr.chown, scope, instr) if instr.chown else None,
            chmod=self.word(instr.chmod, scope, instr) if instr.chmod else None,
            link=instr.link, parents=instr.parents,
            exclude=tuple(self.word(x, scope, instr) for x in instr.exclude),
        )
        if isinstance(instr, ins.Add):
            return args.AddArgs(**common, checksum=self.word(instr.checksum, scope, instr) if instr.checksum else None,
                                keep_git_dir=instr.keep_git_dir, unpack=instr.unpack), (), ()
        if instr.from_ is None:
            return args.CopyArgs(**common), (), ()
        source = self.source_ref(instr.from_, scope, idx, names, all_names, instr)
        deps = ((source.stage,), ()) if source.stage is not None else ((), (source.image,))
        return args.CopyArgs(**common, from_=source), *deps

    def run_args(self, instr: ins.Run, scope, idx, names, all_names):
        mounts, stage_deps, image_deps = [], [], []
        for m in instr.mounts:
            fields = dict(m.__dict__)
            for key in ("target", "source", "id", "env", "size"):
                if fields[key] is not None:
                    fields[key] = self.word(fields[key], scope, instr)
            source = None
            if m.from_ is not None:
                source = self.source_ref(m.from_, scope, idx, names, all_names, instr)
                if source.stage is not None:
                    stage_deps.append(source.stage)
                else:
                    image_deps.append(source.image)
            mounts.append(args.MountArgs(**{**fields, "from_": source}))
        heredocs = tuple(args.HeredocArgs(h.name, h.expand, h.chomp) for h in instr.heredocs)
        out = args.RunArgs(instr.shell_form, instr.args, tuple(mounts), instr.network, instr.security, heredocs)
        return out, tuple(stage_deps), tuple(image_deps)
