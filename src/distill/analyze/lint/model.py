"""The parsed Dockerfile as the checks read it: stages with their instructions, a RUN's
simple commands split once, which stages ship and which a target reaches, flags. Pure."""

from __future__ import annotations

import re
import shlex

from distill.record import Record


_SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;", "\n"}



class Options(Record):
    """What a lint is told besides the Dockerfile (lint() says what each is)."""
    target: str | None = None
    ignore: tuple = ()
    context: dict | None = None
    override: dict | None = None
    trusted: list | None = None
    built_only: bool = False
    bases: dict | None = None
    platform: str | None = None
    labels: dict | None = None
    strict_labels: bool = False
    pragmas: bool = True


class Facts:
    """What every check reads beside the stages: the source's lines, the ARGs and other
    instructions before the first FROM, each RUN's shell (pipefail set, sh-like) by node
    id, the stages that set PIP_NO_CACHE_DIR, and the lint's Options."""

    def __init__(self, lines: list[str], global_args: list, before_from: list, pipefail: dict[int, bool],
                 posix_shell: dict[int, bool], pip_no_cache: dict[int, bool], options: Options = Options()):
        self.lines, self.global_args, self.before_from = lines, global_args, before_from
        self.pipefail, self.posix_shell, self.pip_no_cache = pipefail, posix_shell, pip_no_cache
        self.options = options


class Line:
    """Where a finding that belongs to no instruction is (a comment, a continuation)."""

    def __init__(self, line: int):
        self.start_line = line



class Stage:
    def __init__(self, index: int, node, name: str | None):
        self.index, self.node, self.name = index, node, name
        self.nodes: list = []
        self.triggers: list = []  # the instructions its ONBUILDs wrap, at their lines: RUN and ARG rules read them
        self._commands: dict[int, list[list[str]]] = {}

    def commands(self, run) -> list[list[str]]:
        """A RUN's simple commands, split once for every check that reads them."""
        if id(run) not in self._commands:
            self._commands[id(run)] = commands(run_script(run))
        return self._commands[id(run)]

    @property
    def base(self) -> str:
        return self.node.args[0] if self.node.args else ""



def shipped(stages, final) -> list:
    """The stages whose layers the final image holds: the final stage and the stages it
    is built FROM, in a chain."""
    by_name = {s.name: s for s in stages if s.name}
    out, s = [], final
    while s is not None and s not in out:
        out.append(s)
        s = by_name.get(s.base.lower())
    return out



_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# words the shell reads before a command: `{ wget ...; }`, `if ...; then curl ...`
_RESERVED = frozenset({"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time"})


def commands(script: str) -> list[list[str]]:
    """A shell script's simple commands, as word lists, the variable assignments and
    reserved words before a command dropped (`DEBIAN_FRONTEND=noninteractive apt-get ...`
    is apt-get, so is `{ apt-get ...; }`); a best effort: lint reads, never runs."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=";&|()\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""
    out, current = [], []
    try:
        for token in lexer:
            if token in _SEPARATORS or set(token) <= set(";&|()\n"):
                if current:
                    out.append(current)
                current = []
            elif current or not (_ASSIGNMENT.match(token) or token in _RESERVED):
                current.append(token)
    except ValueError:  # an unbalanced quote: what was read so far
        pass
    if current:
        out.append(current)
    return out



def run_script(node) -> str:
    """The shell script a RUN runs: its command line, or a heredoc's body when the heredoc
    is the script (`RUN <<EOF`; `RUN python3 <<EOF` feeds it to another program)."""
    if node.json:
        return ""
    line = " ".join(node.args)
    if node.heredocs and line.lstrip().startswith("<<"):
        return "\n".join(h.content for h in node.heredocs)
    return line



def runs(stages):
    for s in stages:
        for n in s.nodes + s.triggers:
            if n.value == "run":
                yield s, n, s.commands(n)



def flag_value(node, name: str) -> str | None:
    for f in node.flags:
        if f.startswith(f"--{name}="):
            return f.split("=", 1)[1]
    return None



def stage_named(stages, name: str):
    return next((t for t in stages if (t.name and t.name == name.lower()) or str(t.index) == name), None)



def reachable(stages, final) -> set:
    """The stages the built one needs: its FROM chain, COPY --from and RUN --mount from=."""
    if final is None:
        return set(stages)
    todo, out = [final], set()
    while todo:
        s = todo.pop()
        if s in out:
            continue
        out.add(s)
        parent = stage_named(stages, s.base) if s.base else None
        if parent is not None and parent.index < s.index:
            todo.append(parent)
        for n in s.nodes:
            names = [flag_value(n, "from")] if n.value in ("copy", "add") else []
            if n.value == "run":
                names += re.findall(r"from=([^,\s]+)", " ".join(n.flags))
            for name in filter(None, names):
                other = stage_named(stages, name)
                if other is not None:
                    todo.append(other)
    return out



def unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'" else s



def copies_context(node) -> bool:
    """COPY . or ADD . : the whole build context."""
    return node.value in ("copy", "add") and flag_value(node, "from") is None and any(
        a.rstrip("/") in (".", "./", "") for a in node.args[:-1])
