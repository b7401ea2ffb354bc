"""The treemap's data: the final filesystem as nested {n: name, s: bytes, l: layer, c:
children}, a file's layer the one that wrote it, a directory's the layer that wrote most
of its bytes. Bounded so the page stays small: each directory keeps its largest children
(the rest folded into one "N more" box) and the tree stops at a depth (what lies deeper
is one box)."""

from __future__ import annotations

from distill.image.layers.tarstream import REG

KEEP = 40        # children shown per directory
MAX_DEPTH = 12   # directories below this are not opened


def tree_data(fs) -> dict:
    root = _dir("/")
    seen = set()
    for path, node in fs.tree.walk():
        inode = node.inode
        if inode.type != REG or id(inode) in seen or not inode.size:
            continue
        seen.add(id(inode))
        *dirs, name = path.strip("/").split("/")
        cur = root
        _add(cur, inode.size, inode.layer)
        for part in dirs[:MAX_DEPTH]:
            cur = cur["c"].setdefault(part, _dir(part))
            _add(cur, inode.size, inode.layer)
        if len(dirs) <= MAX_DEPTH:
            cur["c"][name] = {"n": name, "s": inode.size, "l": inode.layer}
    return _finish(root)


def _dir(name: str) -> dict:
    return {"n": name, "s": 0, "by": {}, "c": {}}


def _add(d: dict, size: int, layer: int) -> None:
    d["s"] += size
    d["by"][layer] = d["by"].get(layer, 0) + size


def _finish(d: dict) -> dict:
    if "c" not in d:
        return d
    kids = sorted(d["c"].values(), key=lambda k: (-k["s"], k["n"]))
    shown, rest = kids[:KEEP], kids[KEEP:]
    out = {"n": d["n"], "s": d["s"], "l": max(d["by"], key=d["by"].get) if d["by"] else -1,
           "c": [_finish(k) for k in shown]}
    if rest:
        out["c"].append({"n": f"{len(rest)} more", "s": sum(k["s"] for k in rest), "l": -1})
    deeper = d["s"] - sum(k["s"] for k in kids)
    if deeper > 0:
        out["c"].append({"n": "(deeper)", "s": deeper, "l": -1})
    return out
