"""The parsed form of a Dockerfile, close to BuildKit's AST so its dump can be reproduced."""

from __future__ import annotations

from distill.record import Record, fresh
from distill.build.dockerfile.goquote import quote, quote_list


class Heredoc(Record):
    name: str
    content: str
    expand: bool = True   # False when the delimiter was quoted
    chomp: bool = False   # <<- strips leading tabs
    fd: int = 0


class Node(Record, frozen=False):
    """One instruction: `value` is its lower-cased name; `args` the words its line parser
    produced (for ENV/LABEL: key, value, separator triples); `child` the inner instruction
    of ONBUILD."""

    value: str
    original: str = ""
    flags: list[str] = fresh(list)
    args: list[str] = fresh(list)
    child: "Node | None" = None
    json: bool = False
    heredocs: list[Heredoc] = fresh(list)
    start_line: int = 0
    end_line: int = 0
    comments: list[str] = fresh(list)

    def dump(self) -> str:
        s = self.value.lower()
        if self.flags:
            s += " " + quote_list(self.flags)
        if self.child is not None:
            s += " (" + self.child.dump() + ")"
        for a in self.args:
            s += " " + quote(a)
        return s.strip()


class Result(Record, frozen=False):
    nodes: list[Node]
    escape: str = "\\"
    warnings: list[str] = fresh(list)
    directives: dict[str, str] = fresh(dict)

    def dump(self) -> str:
        return "".join(f"({n.dump()})\n" for n in self.nodes)
