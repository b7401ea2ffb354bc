"""`distill lint`: the Dockerfile's rules (rules.py, checks.py), aware of which stage ships:
rules about the running image apply to the stage built (--target, else the last), never
to a builder stage. Ignore lists by distill's ids or by their aliases (hadolint codes,
BuildKit check names): `# hadolint ignore=DL3008` or `# distill ignore=apt-unpinned` on
the line before, BuildKit's `# check=skip=JSONArgsRecommended` directive."""

from __future__ import annotations

from distill.analyze.lint.checks import CHECKS
from distill.analyze.lint.model import Facts, Line, Options, Stage
from distill.analyze.lint.shellcheck import POSIX_SHELLS
from distill.analyze.lint.rules import RULES, SEVERITIES

__all__ = ["RULES", "SEVERITIES", "Options", "lint", "shellcheck_available"]


def lint(text: bytes | str, path: str = "Dockerfile", shellcheck: bool = True, **options) -> list[dict]:
    """Findings, by line: {rule, aliases, severity, line, column, message, file}; with
    `shellcheck`, ShellCheck's on the RUN scripts too (SC codes) when the program is here.
    `options` (model.Options): `target`, the stage built; `ignore`, rule ids or aliases;
    `context`, what context_facts() found in the build context, for the rules about it;
    `override`, rule or alias → severity; `trusted`, the registries FROM may name;
    `built_only`, only what concerns the stages a build of `target` runs (as BuildKit's
    warnings); `bases`, {FROM reference: {"env": names, "platform": "os/arch"}} for the
    base images known here, `platform` the build's; `labels`, the label schema (label →
    type, lint/labels.py), `strict_labels` refuses others; `pragmas`, honour inline
    ignore comments."""
    return finish(prepare(text, path, shellcheck), Options(**options))


class Prepared:
    """A Dockerfile parsed, its stages found, and ShellCheck already running on its RUN
    scripts, so that what the caller does next (reading the configuration, the context,
    the store) and the rules overlap ShellCheck's analysis, the slow part of a lint."""

    def __init__(self, text, path: str, shellcheck: bool, parsed=None):
        from distill.build.dockerfile.parser import parse

        self.path = path
        self.result = parsed if parsed is not None else parse(text, path)
        source = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        self.stages, self.facts = _stages(self.result.nodes, source.splitlines())
        self.pending = None
        if shellcheck:
            from distill.analyze.lint.shellcheck import start

            self.pending = start(self.stages)


def prepare(text: bytes | str, path: str = "Dockerfile", shellcheck: bool = True, parsed=None) -> Prepared:
    """`parsed`: the text's syntax tree when the caller has it already (a build's)."""
    return Prepared(text, path, shellcheck, parsed)


def finish(p: Prepared, options: Options = Options()) -> list[dict]:
    """lint()'s findings of a prepared Dockerfile."""
    result, stages, path = p.result, p.stages, p.path
    facts = p.facts
    facts.options = options
    target, ignore, override, pragmas = options.target, options.ignore, options.override, options.pragmas
    final = next((s for s in stages if target and s.name == target.lower()), stages[-1] if stages else None)
    skipped = set(ignore) | _skips(result.directives.get("check", ""))
    findings = []
    for rule, node, message in _warnings(result, path):
        findings.append(_finding(rule, node, message, path))
    for check in CHECKS:
        for rule, node, message in check(stages, final, facts):
            findings.append(_finding(rule, node, message, path))
    if p.pending is not None:
        findings += p.pending.findings(path)
    by_line = {n.start_line: n for n in result.nodes}
    if options.built_only:
        from distill.analyze.lint.model import reachable

        built = reachable(stages, final)
        unbuilt = {n.start_line for s in stages if s not in built for n in [s.node] + s.nodes}
        findings = [f for f in findings if f["line"] not in unbuilt and f["rule"] != "unused-stage"]
    out = []
    for f in findings:
        node = by_line.get(f["line"])
        names = {f["rule"], *f["aliases"]}
        if names & skipped or (pragmas and node is not None and names & _inline_ignores(node.comments)):
            continue
        overridden = names & set(override or {})
        if not overridden and f["rule"] in RULES and not RULES[f["rule"]].enabled:
            continue
        for name in overridden:
            f["severity"] = override[name]
        out.append(f)
    out.sort(key=lambda f: (f["line"], f["rule"]))
    return out


def shellcheck_available() -> bool:
    from distill.analyze.lint.shellcheck import available

    return available()


def _finding(rule: str, node, message: str, path: str) -> dict:
    r = RULES[rule]
    return {"rule": rule, "aliases": list(r.aliases), "severity": r.severity, "line": node.start_line,
            "column": 1, "message": message, "file": path}


def _stages(nodes, lines: list[str]) -> tuple[list[Stage], Facts]:
    stages: list[Stage] = []
    global_args = []
    pipefail: dict[int, bool] = {}
    pip_no_cache: dict[int, bool] = {}
    posix_shell: dict[int, bool] = {}  # a RUN's SHELL is sh-like (not powershell, cmd)
    before_from = []
    for node in nodes:
        if node.value == "from":
            name = node.args[2].lower() if len(node.args) > 2 and node.args[1].lower() == "as" else None
            stages.append(Stage(len(stages), node, name))
            shell_pipefail, posix = False, True
        elif not stages:
            if node.value == "arg":
                global_args.append(node)
            else:
                before_from.append(node)
        else:
            s = stages[-1]
            s.nodes.append(node)
            if node.value == "onbuild" and node.child is not None:
                trigger = node.child.replace(start_line=node.start_line, end_line=node.end_line)
                s.triggers.append(trigger)
                pipefail[id(trigger)], posix_shell[id(trigger)] = shell_pipefail, posix
            if node.value == "shell":
                shell_pipefail = "pipefail" in " ".join(node.args)
                posix = bool(node.args) and node.args[0].rsplit("/", 1)[-1] in POSIX_SHELLS
            if node.value == "env" and "PIP_NO_CACHE_DIR" in node.args[0::3]:
                pip_no_cache[s.index] = True
            pipefail[id(node)] = shell_pipefail
            posix_shell[id(node)] = posix
    return stages, Facts(lines, global_args, before_from, pipefail, posix_shell, pip_no_cache)


def _warnings(result, path):
    """The parser's own: empty continuation lines."""
    for w in result.warnings:
        head, _, message = w.partition(": ")
        line = head.rsplit(":", 1)[-1]
        if "empty continuation" in message and line.isdigit():
            yield "empty-continuation", Line(int(line)), "Empty continuation line"


def _skips(directive: str) -> set[str]:
    """BuildKit's `# check=skip=A,B;error=true`."""
    out = set()
    for part in directive.split(";"):
        key, _, value = part.partition("=")
        if key.strip() == "skip":
            out |= {v.strip() for v in value.split(",") if v.strip()}
    return out


def _inline_ignores(comments: list[str]) -> set[str]:
    out = set()
    for c in comments:
        words = c.split()
        if len(words) >= 2 and words[0] in ("hadolint", "distill") and words[1].startswith("ignore="):
            out |= {v.strip() for v in words[1][len("ignore="):].split(",")}
    return out


UNWANTED = (".git", "node_modules", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".tox")
BIG = 50 << 20
MAX_WALK = 100_000


def context_facts(root: str, dockerfile: str | None = None) -> dict:
    """What a build context holds that a .dockerignore should keep out: its unwanted
    top-level names and its biggest file over 50 MiB (at most 100,000 entries walked).
    The ignore file is the build's: `<Dockerfile>.dockerignore` first, as BuildKit's."""
    import os

    named = f"{dockerfile}.dockerignore" if dockerfile and dockerfile != "-" else None
    ignore = named if named and os.path.isfile(named) else os.path.join(root, ".dockerignore")
    facts = {"dockerignore": os.path.exists(ignore), "unwanted": [], "biggest": None}
    if facts["dockerignore"]:
        try:
            with open(ignore, encoding="utf-8", errors="replace") as f:
                facts["dockerignore_text"] = f.read(1 << 20)
        except OSError:
            pass
        return facts
    try:
        names = set(os.listdir(root))
    except OSError:
        return facts
    facts["unwanted"] = [n for n in UNWANTED if n in names]
    seen, biggest = 0, None
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in UNWANTED]
        for f in files:
            seen += 1
            try:
                size = os.lstat(os.path.join(top, f)).st_size
            except OSError:
                continue
            if size >= BIG and (biggest is None or size > biggest[1]):
                biggest = (os.path.relpath(os.path.join(top, f), root), size)
        if seen > MAX_WALK:
            break
    facts["biggest"] = biggest
    return facts


def base_facts(store, nodes: list) -> dict:
    """{FROM reference: {"env": names, "platform": "os/arch"}} for the bases `store` has
    (nothing is pulled: a base the store lacks stays unknown), from a parsed Dockerfile's
    nodes."""
    from distill.image.store.images import lookup

    out = {}
    for node in nodes:
        if node.value != "from" or not node.args or "$" in node.args[0] or node.args[0] == "scratch":
            continue
        try:
            image = lookup(store, node.args[0])
        except Exception:  # not in the store, or unreadable: unknown
            continue
        config = image.config or {}
        env = [e.partition("=")[0] for e in (config.get("config") or {}).get("Env") or []]
        platform = f"{config.get('os', 'linux')}/{config.get('architecture', '')}"
        out[node.args[0]] = {"env": env, "platform": platform}
    return out
