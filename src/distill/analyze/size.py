"""`distill size`: where an image's bytes are, and which of them are wasted. Pure: an
ImageFS (its tree and each layer's table of contents) and who wrote each layer in, a
report out.

Definitions (docs/architecture.md gives them too):
- a layer's `size` is its uncompressed tar, as docker counts an image's size;
- a layer's `files` are the bytes of the regular files its tar carries (a hard link
  carries none: it shares its target's);
- a layer's `wasted_bytes` are those of its files that the image does not show: written
  again by a later layer (or later in the same one: a changed mode or owner copies the
  whole file up), deleted by a whiteout, under an opaque directory, or under a directory
  that a later layer replaced. Each copy of a file is wasted once, in its own layer, and
  the copy the image shows never is (dive counts every copy of a path written N times:
  its issue #684);
- `efficiency` = 1 - wasted_bytes / files, over all layers (1 for an image with no files)."""

from __future__ import annotations

from distill.image.layers.tarstream import DIR, REG
from distill.image.layers.toc import NAME, SIZE, TYPE
from distill.image.imagefs import stage_label


def visible_contents(tree) -> set[int]:
    """The ids of the table-of-contents rows whose content the image shows (a hard link
    shows its target's)."""
    out = set()
    for _, node in tree.walk():
        inode = node.inode
        if inode.type == REG:
            out.add(id(inode.row))
    return out


def waste(fs) -> tuple[list[int], list[int], dict[str, list[tuple[int, int]]]]:
    """(files per layer, wasted bytes per layer, {path: [(layer, bytes) of each hidden copy]})."""
    shown = visible_contents(fs.tree)
    files, wasted, hidden = [], [], {}
    for i, rows in enumerate(fs.layer_rows):
        total = lost = 0
        for row in rows:
            if row[TYPE] != REG:
                continue
            total += row[SIZE]
            if id(row) not in shown:
                lost += row[SIZE]
                if row[SIZE]:
                    hidden.setdefault("/" + row[NAME], []).append((i, row[SIZE]))
        files.append(total)
        wasted.append(lost)
    return files, wasted, hidden


def largest(fs, top: int) -> tuple[list[dict], list[dict]]:
    """The `top` largest files of the final tree and directories (the bytes of the files
    under them); a file with several names counts once, at its first."""
    files, seen, order = [], set(), []
    for path, node in fs.tree.walk():
        order.append((path, node))
    totals: dict[str, int] = {}
    for path, node in reversed(order):  # children before their parents
        inode = node.inode
        if node.type == DIR:
            n = totals.get(path, 0)
        elif inode.type == REG and id(inode) not in seen:
            seen.add(id(inode))
            n = inode.size
            files.append((n, path, inode.layer))
        else:
            continue
        parent = path.rpartition("/")[0]
        totals[parent] = totals.get(parent, 0) + n
    files.sort(key=lambda f: (-f[0], f[1]))
    dirs = sorted(((n, p) for p, n in totals.items() if p), key=lambda d: (-d[0], d[1]))
    return ([{"path": p, "size": n, "layer": layer} for n, p, layer in files[:top]],
            [{"path": p, "size": n} for n, p in dirs[:top]])


def measure(fs, attribution, top: int = 10) -> dict:
    """The report `distill size` prints: totals, each layer with who made it, the largest
    files and directories, the most wasted paths; and with a build record, what each
    COPY --from brought from its stage and the bytes of the final stage's base."""
    layer_sizes = fs.layer_sizes()
    files, wasted, hidden = waste(fs)
    total_files, total_wasted = sum(files), sum(wasted)
    layers = []
    for i, desc in enumerate(fs.layers):
        who = attribution.of(i)
        layers.append({"digest": desc["digest"], "size": layer_sizes[i], "files": files[i], "wasted_bytes": wasted[i],
                       "created_by": who.get("created_by", ""), "line": who.get("line"), "stage": who.get("stage")})
    big_files, big_dirs = largest(fs, top)
    worst = sorted(hidden.items(), key=lambda kv: (-sum(b for _, b in kv[1]), kv[0]))[:top]
    report = {
        "size": sum(layer_sizes),
        "files": total_files,
        "wasted_bytes": total_wasted,
        "efficiency": 1.0 if total_files == 0 else (total_files - total_wasted) / total_files,
        "layers": layers,
        "largest": big_files,
        "largest_dirs": big_dirs,
        "wasted": [{"path": p, "bytes": sum(b for _, b in copies), "copies": [{"layer": l, "bytes": b}
                                                                           for l, b in copies]}
                   for p, copies in worst],
    }
    if attribution.record:
        report["stages"] = stage_bytes(attribution.record, layers)
    return report


def stage_bytes(record: dict, layers: list[dict]) -> dict:
    """The final stage's layers split by where their bytes came from: its base (every
    layer no step of the final stage made: a base image's, or the stage it is built
    FROM), each COPY --from (by source stage), and its own other steps."""
    final = next((s for s in record["stages"] if s.get("target")), record["stages"][-1])
    by_layer = {l["digest"]: l for l in layers}
    own, copies = [], []
    for step in final.get("steps") or []:
        layer = by_layer.get(step.get("layer"))
        if layer is None:
            continue
        source = (step.get("copies") or {}).get("from") or {}
        if "stage" in source:
            copies.append({"line": step.get("line"), "instruction": step.get("instruction"),
                           "stage": source.get("name") or str(source["stage"]), "files": layer["files"],
                           "size": layer["size"]})
        else:
            own.append(layer)
    mine = {step.get("layer") for step in final.get("steps") or []}
    base = [l for l in layers if l["digest"] not in mine]
    by_stage: dict[str, int] = {}
    for c in copies:
        by_stage[c["stage"]] = by_stage.get(c["stage"], 0) + c["size"]
    return {
        "final": stage_label(final),
        "base": {"ref": (final.get("base") or {}).get("ref"), "size": sum(l["size"] for l in base),
                 "layers": len(base)},
        "copies_from": copies,
        "from_stage": by_stage,
        "own": sum(l["size"] for l in own),
    }
