"""Python distributions: *.dist-info (METADATA, RECORD) and *.egg-info in any directory."""

from __future__ import annotations

import posixpath
from email.parser import HeaderParser

from distill.image.layers.tarstream import DIR, REG
from distill.analyze.packages.base import METADATA_MAX, LIST_MAX


def python_metadata(text: str) -> dict | None:
    """Name, Version and the declared licence (License-Expression, else License, else the
    licence classifiers) of a METADATA or PKG-INFO file."""
    headers = HeaderParser().parsestr(text, headersonly=True)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    licence = (headers.get("License-Expression") or "").strip()
    if not licence:
        declared = (headers.get("License") or "").strip()
        licence = declared if declared and "\n" not in declared and len(declared) < 100 else ""
    if not licence:
        licence = " AND ".join(c.split("::")[-1].strip() for c in headers.get_all("Classifier") or []
                               if c.startswith("License ::") and c.count("::") > 1)
    return {"name": name.strip(), "version": version.strip(), "license": licence}


def parse_metadata(text: str) -> tuple[str, str] | None:
    """(Name, Version) of a METADATA or PKG-INFO file."""
    found = python_metadata(text)
    return (found["name"], found["version"]) if found else None


def canonical_name(name: str) -> str:
    """PEP 503's normalized project name."""
    out, last = [], ""
    for c in name.lower():
        c = "-" if c in "-_." else c
        if c == "-" and last == "-":
            continue
        out.append(c)
        last = c
    return "".join(out)


def catalog(fs, files: bool = False) -> list[dict]:
    wanted = []
    for path, node in fs.walk():
        base = path.rpartition("/")[2]
        if base.endswith(".dist-info") and node.type == DIR:
            wanted.append(f"{path}/METADATA")
        elif base.endswith(".egg-info"):
            wanted.append(f"{path}/PKG-INFO" if node.type == DIR else path)
    found = [(p, n) for p, n in ((p, fs.stat(p, follow=True)) for p in wanted) if n is not None and n.inode.type == REG]
    by_node = {id(n): p for p, n in found}
    out = []
    for node, stream in fs.contents([n for _, n in found]):
        meta = python_metadata(stream.read(METADATA_MAX).decode("utf-8", "replace"))
        if meta:
            path = by_node[id(node)]
            out.append({"type": "python", **meta, "arch": "", "source": meta["name"], "source_version": meta["version"],
                        "path": path, "layer": node.inode.layer})
    if files:
        for c in out:
            c["files"] = _record(fs, c["path"])
    return out


def _record(fs, metadata: str) -> list[str]:
    """The files a wheel's RECORD lists, as absolute paths in the image."""
    info = metadata.rpartition("/")[0]
    text = fs.read_text(f"{info}/RECORD", LIST_MAX) if info.endswith(".dist-info") else None
    if not text:
        return []
    root = info.rpartition("/")[0]
    out = []
    for line in text.splitlines():
        name = line.rsplit(",", 2)[0].strip('"') if line.count(",") >= 2 else ""
        if name and not name.startswith("/"):
            out.append(posixpath.normpath(f"{root}/{name}"))
    return out
