"""npm packages: package.json files in node_modules trees."""

from __future__ import annotations

from distill.image.layers.tarstream import REG
from distill.analyze.packages.base import METADATA_MAX


def catalog(fs, files: bool = False) -> list[dict]:
    import json

    wanted = []
    for path, node in fs.walk():
        parts = path.split("/")
        if parts[-1] == "package.json" and len(parts) >= 4 and (
                parts[-3] == "node_modules" or (parts[-4] == "node_modules" and parts[-3].startswith("@"))):
            wanted.append((path, node))
    out = []
    by_node = {id(n.inode): p for p, n in wanted}
    for node, stream in fs.contents([n for _, n in wanted if n.inode.type == REG]):
        try:
            doc = json.loads(stream.read(METADATA_MAX))
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            from distill.notices import warn

            warn(f"{by_node.get(id(node.inode), 'a package.json')}: not readable JSON: skipped")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not isinstance(doc.get("version"), str):
            continue
        licence = doc.get("license")
        out.append({"type": "npm", "name": doc["name"], "version": doc["version"], "arch": "", "source": doc["name"],
                    "source_version": doc["version"], "license": licence if isinstance(licence, str) else "",
                    "path": by_node.get(id(node.inode), ""), "layer": node.inode.layer})
    return out
