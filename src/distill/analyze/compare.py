"""`distill compare`: two images side by side, or a build's final image against each of its
builder stages (what the multi-stage build kept out). Pure over ImageFS trees and the
package lists packages.py reads.

A path is `changed` when its type, size, mode, owner or link target differ (metadata,
read from the layers' headers: no file is read, so an edit that keeps a file's size and
mode is not seen). Bytes are regular files' sizes, each inode once."""

from __future__ import annotations

from distill.image.layers.tarstream import DIR, REG

GROUP_DEPTH = 2  # paths are grouped by their first two components: /usr/lib, /opt/venv


def _entries(fs) -> dict[str, tuple]:
    """path → (type, size, mode, uid, gid, link, inode id) of everything but directories'
    own sizes (a directory is there or not)."""
    out = {}
    for path, node in fs.tree.walk():
        inode = node.inode
        kind = inode.type
        out[path] = (kind, inode.size if kind == REG else 0, inode.mode, inode.uid, inode.gid,
                     inode.linkname if kind != REG and kind != DIR else "", id(inode))
    return out


def _group(path: str) -> str:
    """The directory a path is counted under: its parent, cut to GROUP_DEPTH components."""
    parts = [p for p in path.rpartition("/")[0].split("/") if p][:GROUP_DEPTH]
    return "/" + "/".join(parts)


def diff_files(a, b) -> dict:
    """Files only in A, only in B, and changed: counts, bytes, and by directory."""
    ea, eb = _entries(a), _entries(b)
    out = {"only_a": _side(), "only_b": _side(), "changed": _side()}
    seen_a, seen_b = set(), set()

    def add(side, path, size, inode, seen):
        side["count"] += 1
        if inode not in seen:
            seen.add(inode)
            side["bytes"] += size
            g = side["groups"].setdefault(_group(path), {"count": 0, "bytes": 0})
            g["count"] += 1
            g["bytes"] += size
            side["largest"].append((size, path))

    for path, fa in ea.items():
        fb = eb.get(path)
        if fb is None:
            add(out["only_a"], path, fa[1], fa[6], seen_a)
        elif fa[:6] != fb[:6] and fa[0] != DIR:
            add(out["changed"], path, fb[1], fb[6], seen_b)
    for path, fb in eb.items():
        if path not in ea:
            add(out["only_b"], path, fb[1], fb[6], seen_b)
    for side in out.values():
        side["groups"] = [{"path": p, **g} for p, g in sorted(side["groups"].items(),
                                                               key=lambda kv: (-kv[1]["bytes"], kv[0]))]
        side["largest"] = [{"path": p, "size": n} for n, p in sorted(side["largest"], key=lambda x: (-x[0], x[1]))[:10]]
    return out


def _side() -> dict:
    return {"count": 0, "bytes": 0, "groups": {}, "largest": []}


def diff_packages(pa: dict[str, dict[str, str]], pb: dict[str, dict[str, str]]) -> dict:
    """Per ecosystem: packages only in A, only in B, and at another version."""
    out = {}
    for eco in sorted(set(pa) | set(pb)):
        a, b = pa.get(eco, {}), pb.get(eco, {})
        out[eco] = {
            "only_a": {n: a[n] for n in sorted(set(a) - set(b))},
            "only_b": {n: b[n] for n in sorted(set(b) - set(a))},
            "changed": {n: [a[n], b[n]] for n in sorted(set(a) & set(b)) if a[n] != b[n]},
            "count_a": len(a), "count_b": len(b),
        }
    return out


def compare(a, b, size_a: int, size_b: int, packages_a: dict, packages_b: dict) -> dict:
    return {
        "a": {"size": size_a, "layers": len(a.layers)},
        "b": {"size": size_b, "layers": len(b.layers)},
        "files": diff_files(a, b),
        "packages": diff_packages(packages_a, packages_b),
    }


def kept_out(final, stages: list[tuple[str, object, int]], final_packages: dict, stage_packages: list[dict]) -> list[dict]:
    """For each builder stage (name, ImageFS, size): what it holds that the final image
    does not, in files, bytes and packages."""
    out = []
    for (name, fs, size), packages in zip(stages, stage_packages):
        files = diff_files(final, fs)
        pk = diff_packages(final_packages, packages)
        out.append({"stage": name, "size": size, "layers": len(fs.layers),
                    "kept_out": {"count": files["only_b"]["count"], "bytes": files["only_b"]["bytes"],
                                 "groups": files["only_b"]["groups"][:10]},
                    "packages_kept_out": {eco: d["only_b"] for eco, d in pk.items() if d["only_b"]}})
    return out
