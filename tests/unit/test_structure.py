"""The shape of the source: no import cycle between distill's modules, nor between its
packages (each folder, and the five rooms build, image, analyze, upkeep, fs), no module
reaching into another's private names, the command line going through distill.api only,
and the solver in modules of one job each."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "distill"


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return out


MODULES = modules()


def _package(name: str) -> str:
    path = SRC.parent / name.replace(".", "/")
    return name if path.is_dir() else name.rpartition(".")[0]


def imports(name: str, tree: ast.Module) -> set[str]:
    """distill modules `name` imports, at any depth (a lazy import is still a dependency)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("distill"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(name)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("distill"):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in MODULES else target)
    out.discard(name)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    graph = {name: imports(name, tree) for name, tree in MODULES.items()}
    assert cycles(graph) == []


def package(name: str, depth: int | None = None) -> str:
    """The folder a module lives in (cut to `depth` names below distill); a module at the
    top of distill stands for itself."""
    parent = name if (SRC.parent / name.replace(".", "/")).is_dir() else name.rpartition(".")[0]
    if parent == "distill":
        return name
    return ".".join(parent.split(".")[:depth + 1]) if depth else parent


def package_graph(depth: int | None = None) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, tree in MODULES.items():
        mine = package(name, depth)
        graph.setdefault(mine, set()).update(p for p in (package(m, depth) for m in imports(name, tree)) if p != mine)
    return graph


def test_no_import_cycle_between_packages():
    assert cycles(package_graph()) == []


def test_no_import_cycle_between_the_rooms():
    """build, image, analyze, upkeep and fs (and each module at distill's top) in layers."""
    assert cycles(package_graph(depth=1)) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _defined(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _foreign_modules(tree: ast.Module) -> set[str]:
    """Names bound to modules outside distill (os, sys, _thread): their private names are
    the standard library's business."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update((a.asname or a.name).split(".")[0] for a in node.names if not a.name.startswith("distill"))
    return out


def private_uses(tree: ast.Module) -> list[str]:
    """Private names (one leading underscore) this module takes from another distill module."""
    own, foreign = _defined(tree), _foreign_modules(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("distill")):
            out += [f"import {a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            if isinstance(base, ast.Name) and (base.id in ("self", "cls") or base.id in foreign):
                continue
            if node.attr not in own:
                out.append(f"line {node.lineno}: .{node.attr}")
    return out


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_uses_another_modules_private_names(name):
    assert private_uses(MODULES[name]) == []


def test_the_private_name_check_sees_them():
    tree = ast.parse("from ..snapshot.overlay import _mount\nimport os\ndef f(t):\n    os._exit(0)\n"
                     "    return t._resolve('x')\n")
    assert private_uses(tree) == ["import _mount", "line 5: ._resolve"]


def test_the_command_line_goes_through_the_api():
    for name, tree in MODULES.items():
        if not name.startswith("distill.cli"):
            continue
        reached = {m for m in imports(name, tree) if not m.startswith("distill.cli")}
        assert reached <= {"distill.api", "distill.errors"}, name


def test_solver_modules_are_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (SRC / "build" / "solver").glob("*.py")}
    assert max(sizes.values()) <= 400, sizes


def test_no_file_over_500_lines():
    """A module a job: one that outgrows this does more than one."""
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 500} == {}
