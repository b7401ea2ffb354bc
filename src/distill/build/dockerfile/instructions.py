"""Typed instructions: one small immutable type per instruction, flags parsed and checked.

Arguments stay as written (unexpanded): expansion needs the ARG/ENV scope, which plan/
computes. Quotes in ENV/LABEL/ARG values are removed by that expansion, as in BuildKit.
"""

from __future__ import annotations

import re

from distill.errors import DockerfileError
from distill.record import Record
from distill.build.dockerfile.ast import Heredoc, Node
from distill.build.dockerfile.flags import BOOL, LIST, STRING, FlagSpec, parse_flags
from distill.build.dockerfile.mounts import Mount, parse_mount
from distill.build.dockerfile.parser import INSTRUCTIONS
from distill.suggest import did_you_mean

STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
RESERVED_STAGE_NAMES = frozenset({"context", "scratch"})
# compiled at first use (re's cache): only HEALTHCHECK has durations
_DURATION_PART = r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)"
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
ONBUILD_FORBIDDEN = frozenset({"onbuild", "from", "maintainer"})


class Instruction(Record):
    line: int
    end_line: int
    original: str

    @property
    def keyword(self) -> str:
        return type(self).__name__.upper()


class From(Instruction):
    image: str
    stage_name: str | None = None
    platform: str | None = None


class Command(Instruction):
    """RUN, CMD, ENTRYPOINT: shell form (one string) or exec form (a list)."""

    args: tuple[str, ...] = ()
    shell_form: bool = True

    @property
    def text(self) -> str:
        return self.args[0] if self.shell_form and self.args else ""


class Run(Command):
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    security: str | None = None
    heredocs: tuple[Heredoc, ...] = ()


class Cmd(Command):  # no fields of its own: the base's methods serve
    pass


class Entrypoint(Command):  # no fields of its own: the base's methods serve
    pass


class Shell(Instruction):
    shell: tuple[str, ...] = ()


class Copy(Instruction):
    sources: tuple[str, ...] = ()
    dest: str = ""
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()
    json_form: bool = False


class Add(Copy):
    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None


class KeyValues(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()


class Env(KeyValues):  # no fields of its own: the base's methods serve
    pass


class Label(KeyValues):  # no fields of its own: the base's methods serve
    pass


class Arg(Instruction):
    args: tuple[tuple[str, str | None], ...] = ()  # (name, default as written or None)


class Workdir(Instruction):
    path: str = ""


class User(Instruction):
    user: str = ""


class Expose(Instruction):
    ports: tuple[str, ...] = ()


class Volume(Instruction):
    paths: tuple[str, ...] = ()


class StopSignal(Instruction):
    signal: str = ""


class Maintainer(Instruction):
    name: str = ""


class Healthcheck(Instruction):
    test: tuple[str, ...] | None = None  # None: HEALTHCHECK NONE; else ("CMD", …) or ("CMD-SHELL", cmd)
    interval: int | None = None          # nanoseconds, as the image config stores them
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None


class Onbuild(Instruction):
    trigger: str = ""       # the instruction text, stored in the image config
    inner: Instruction | None = None


def _err(node: Node, msg: str) -> DockerfileError:
    return DockerfileError(msg, node.start_line, node.end_line)


def parse_duration(text: str, name: str) -> int:
    """Go's time.ParseDuration subset (e.g. 30s, 1m30s, 500ms) → nanoseconds."""
    if text == "0":
        return 0
    if not re.fullmatch(f"(?:{_DURATION_PART})+", text):
        raise DockerfileError(f"invalid duration for --{name}: {text!r}")
    return int(sum(float(v) * _UNIT_NS[u] for v, u in re.findall(_DURATION_PART, text)))


def _no_flags(node: Node) -> None:
    if node.flags:
        raise _err(node, f"{node.value.upper()} does not take flags: {' '.join(node.flags)}")


def _flags(node: Node, spec: dict) -> dict:
    try:
        return parse_flags(node.flags, spec, node.value.upper())
    except DockerfileError as e:
        raise _err(node, e.message) from None


def _command(node: Node, cls, base: dict, **extra):
    # BuildKit takes a bare shell-form RUN as `sh -c ""`; only an empty JSON list is refused
    if node.json and not node.args:
        raise _err(node, f"{node.value.upper()} requires at least one argument")
    return cls(**base, args=tuple(node.args), shell_form=not node.json, **extra)


_COPY_FLAGS = {"from": FlagSpec(STRING), "chown": FlagSpec(STRING), "chmod": FlagSpec(STRING),
               "link": FlagSpec(BOOL, False), "parents": FlagSpec(BOOL, False), "exclude": FlagSpec(LIST)}
_ADD_FLAGS = {**{k: v for k, v in _COPY_FLAGS.items() if k != "from"}, "checksum": FlagSpec(STRING),
              "keep-git-dir": FlagSpec(BOOL, False), "unpack": FlagSpec(BOOL)}
_RUN_FLAGS = {"mount": FlagSpec(LIST), "network": FlagSpec(STRING), "security": FlagSpec(STRING)}
_HEALTH_FLAGS = {"interval": FlagSpec(STRING), "timeout": FlagSpec(STRING), "start-period": FlagSpec(STRING),
                 "start-interval": FlagSpec(STRING), "retries": FlagSpec(STRING)}


def from_node(node: Node) -> Instruction:
    """The typed instruction for a parsed node; DockerfileError (with its line) if invalid."""
    base = {"line": node.start_line, "end_line": node.end_line, "original": node.original}
    kw = node.value
    if kw == "from":
        f = _flags(node, {"platform": FlagSpec(STRING)})
        args = node.args
        if len(args) == 1:
            return From(**base, image=args[0], platform=f["platform"])
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if "$" not in name:
                check_stage_name(name, node)
            return From(**base, image=args[0], stage_name=name, platform=f["platform"])
        raise _err(node, "FROM requires either one or three arguments (FROM image [AS name])")
    if kw == "run":
        f = _flags(node, _RUN_FLAGS)
        if f["network"] is not None and f["network"] not in ("default", "none", "host"):
            raise _err(node, f"invalid --network value {f['network']!r} (default, none or host)")
        if f["security"] is not None and f["security"] not in ("sandbox", "insecure"):
            raise _err(node, f"invalid --security value {f['security']!r} (sandbox or insecure)")
        try:
            mounts = tuple(parse_mount(m) for m in f["mount"])
        except DockerfileError as e:
            raise _err(node, e.message) from None
        return _command(node, Run, base, mounts=mounts, network=f["network"], security=f["security"],
                        heredocs=tuple(node.heredocs))
    if kw in ("cmd", "entrypoint"):
        _no_flags(node)
        cls = Cmd if kw == "cmd" else Entrypoint
        return cls(**base, args=tuple(node.args), shell_form=not node.json)
    if kw == "shell":
        _no_flags(node)
        if not node.json:
            raise _err(node, "SHELL requires the arguments to be in JSON form")
        if not node.args:
            raise _err(node, "SHELL requires at least one argument")
        return Shell(**base, shell=tuple(node.args))
    if kw in ("copy", "add"):
        f = _flags(node, _COPY_FLAGS if kw == "copy" else _ADD_FLAGS)
        if len(node.args) < 2:
            raise _err(node, f"{kw.upper()} requires at least two arguments, but got {len(node.args)}")
        common = dict(sources=tuple(node.args[:-1]), dest=node.args[-1], chown=f["chown"], chmod=f["chmod"],
                      link=f["link"], parents=f["parents"], exclude=tuple(f["exclude"]),
                      heredocs=tuple(node.heredocs), json_form=node.json)
        if kw == "copy":
            return Copy(**base, from_=f["from"], **common)
        return Add(**base, **common, checksum=f["checksum"], keep_git_dir=f["keep-git-dir"], unpack=f["unpack"])
    if kw in ("env", "label"):
        _no_flags(node)
        if not node.args:
            raise _err(node, f"{kw.upper()} requires at least one argument")
        pairs = tuple((node.args[i], node.args[i + 1]) for i in range(0, len(node.args), 3))
        if any(not k for k, _ in pairs):
            raise _err(node, f"{kw.upper()} names can not be blank")
        return (Env if kw == "env" else Label)(**base, pairs=pairs)
    if kw == "arg":
        _no_flags(node)
        if not node.args:
            raise _err(node, "ARG requires at least one argument")
        out = []
        for word in node.args:
            name, eq, default = word.partition("=")
            if not name:
                raise _err(node, f"ARG names can not be blank: {word!r}")
            out.append((name, default if eq else None))
        return Arg(**base, args=tuple(out))
    if kw in ("workdir", "user", "stopsignal", "maintainer"):
        _no_flags(node)
        if len(node.args) != 1 or not node.args[0]:
            raise _err(node, f"{kw.upper()} requires exactly one argument")
        value = node.args[0]
        return {"workdir": lambda: Workdir(**base, path=value), "user": lambda: User(**base, user=value),
                "stopsignal": lambda: StopSignal(**base, signal=value),
                "maintainer": lambda: Maintainer(**base, name=value)}[kw]()
    if kw == "expose":
        _no_flags(node)
        if not node.args:
            raise _err(node, "EXPOSE requires at least one argument")
        return Expose(**base, ports=tuple(node.args))
    if kw == "volume":
        _no_flags(node)
        if not node.args or any(not a.strip() for a in node.args):
            raise _err(node, "VOLUME specified can not be an empty string")
        return Volume(**base, paths=tuple(node.args))
    if kw == "healthcheck":
        return _healthcheck(node, base)
    if kw == "onbuild":
        _no_flags(node)
        if node.child is None:
            raise _err(node, "ONBUILD requires at least one argument")
        inner_kw = node.child.value
        if inner_kw in ONBUILD_FORBIDDEN:
            raise _err(node, f"{inner_kw.upper()} isn't allowed as an ONBUILD trigger")
        child = node.child.replace(start_line=node.start_line, end_line=node.end_line)
        inner = from_node(child)
        trigger = node.original.strip().split(None, 1)[1] if len(node.original.split(None, 1)) > 1 else ""
        return Onbuild(**base, trigger=trigger, inner=inner)
    raise _err(node, f"unknown instruction: {kw.upper()}" + did_you_mean(kw, INSTRUCTIONS, str.upper))


def _healthcheck(node: Node, base: dict) -> Healthcheck:
    f = _flags(node, _HEALTH_FLAGS)
    if not node.args:
        raise _err(node, "HEALTHCHECK requires an argument")
    typ = node.args[0].upper()
    if typ == "NONE":
        if len(node.args) > 1:
            raise _err(node, "HEALTHCHECK NONE takes no arguments")
        if any(f[k] is not None for k in f):
            raise _err(node, "HEALTHCHECK NONE takes no options")
        return Healthcheck(**base, test=None)
    if typ != "CMD":
        raise _err(node, f"unknown type for HEALTHCHECK: {node.args[0]} (CMD or NONE)")
    cmd = node.args[1:]
    if not cmd:
        raise _err(node, "missing command after HEALTHCHECK CMD")
    test = ("CMD", *cmd) if node.json else ("CMD-SHELL", cmd[0])
    values = {}
    try:
        for name in ("interval", "timeout", "start-period", "start-interval"):
            d = parse_duration(f[name], name) if f[name] is not None else None
            if d is not None and 0 < d < 1_000_000:
                raise DockerfileError(f"--{name} cannot be less than 1ms")
            values[name.replace("-", "_")] = d
        retries = None
        if f["retries"] is not None:
            if not f["retries"].lstrip("-").isdigit():
                raise DockerfileError(f"invalid --retries value {f['retries']!r}")
            retries = int(f["retries"])
            if retries < 0:
                raise DockerfileError("--retries cannot be negative")
    except DockerfileError as e:
        raise _err(node, e.message) from None
    return Healthcheck(**base, test=test, retries=retries, **values)


def check_stage_name(name: str, node: Node | None = None) -> None:
    problem = None
    if not STAGE_NAME.match(name):
        problem = f"invalid name for build stage: {name!r}, name can't start with a number or contain symbols"
    elif name in RESERVED_STAGE_NAMES:
        problem = f"invalid name for build stage: {name!r}, the name is reserved"
    if problem:
        raise _err(node, problem) if node else DockerfileError(problem)
