"""The imports a Python source file makes when it runs, read with `ast` (never run), each
with how sure it is to run: `required` (module level: a failure stops the program),
`optional` (inside a function, an `if`, or a `try` that catches ImportError: a failure
may never happen or is handled). Branches on TYPE_CHECKING, the Python version or the
platform are left out (ANALYSIS-FACTS §3). Pure."""

from __future__ import annotations

import ast
from typing import NamedTuple

_CATCHES_IMPORT = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
_IGNORED_WORDS = {"TYPE_CHECKING", "version_info", "platform", "system"}  # and os.name


class Import(NamedTuple):
    module: str          # absolute dotted name
    required: bool
    line: int
    maybe: bool = False  # `from a import b`'s a.b: a submodule if it exists, else an attribute


def imports(source: bytes | str, package: str = "") -> list[Import]:
    """Every import in `source`; `package` is the package a relative import starts from
    ("" for a script: its relative imports fail at run time and are left out). An
    unparsable source yields none."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    out: list[Import] = []
    _walk(tree.body, True, package, out)
    return out


def _walk(body: list, required: bool, package: str, out: list[Import]) -> None:
    """The imports of `body` in source order, depth first. A stack of its own, not
    Python's: an `elif` chain of thousands of branches nests as deep."""
    stack = [(iter(body), required)]
    while stack:
        nodes, required = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        for inner, inner_required in reversed(_inside(node, required, package, out)):
            stack.append((iter(inner), inner_required))


def _inside(node, required: bool, package: str, out: list[Import]) -> list[tuple[list, bool]]:
    """Records `node`'s own imports; returns the bodies in it to walk, in order, each
    with whether what it imports is needed at start."""
    if isinstance(node, ast.Import):
        out.extend(Import(a.name, required, node.lineno) for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _absolute(node.module, node.level, package)
        if base is None:
            return []
        if base:
            out.append(Import(base, required, node.lineno))
        for a in node.names:
            if a.name != "*":
                out.append(Import(f"{base}.{a.name}" if base else a.name, required, node.lineno, maybe=True))
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return [(node.body, False)]
    elif isinstance(node, ast.ClassDef):
        return [(node.body, required)]  # a class body runs at import
    elif isinstance(node, ast.If):
        words = _words(node.test)
        if words & _IGNORED_WORDS or {"os", "name"} <= words:
            return []
        main_guard = {"__name__", "__main__"} <= words
        return [(node.body, required and main_guard), (node.orelse, False)]
    elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
        handled = any(_catches_import(h.type) for h in node.handlers)
        return [(node.body, required and not handled), *((h.body, False) for h in node.handlers),
                (node.orelse, required and not handled), (node.finalbody, required)]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        return [(node.body, required)]
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
        return [(node.body + node.orelse, False)]
    elif isinstance(node, ast.Match):
        return [(case.body, False) for case in node.cases]
    return []


def _words(test) -> set[str]:
    """The names, attributes and strings an `if` tests (a nested expression past Python's
    recursion, none: what it tests cannot matter then)."""
    out = set()
    try:
        nodes = list(ast.walk(test))
    except RecursionError:
        return out
    for n in nodes:
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.add(n.value)
    return out


def _catches_import(kind) -> bool:
    if kind is None:
        return True  # a bare except
    names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(isinstance(n, (ast.Name, ast.Attribute)) and (n.id if isinstance(n, ast.Name) else n.attr)
               in _CATCHES_IMPORT for n in names)


def _absolute(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module or ""
    if not package:
        return None
    parts = package.split(".")
    if level - 1 > len(parts) - 1:
        return None  # beyond the top-level package: an ImportError Python reports itself
    base = ".".join(parts[:len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base
