"""Alpine packages: apk's installed database (P, V, A, o, L, F/R lines)."""

from __future__ import annotations

from distill.analyze.packages.base import db_text, record_layer


def apk_entries(text: str) -> list[dict]:
    """Each package of apk's installed database, with its files (an `F:` line names a
    directory, the `R:` lines after it its files)."""
    out = []
    for block in text.split("\n\n"):
        fields, files, folder = {}, [], ""
        for line in block.splitlines():
            if len(line) > 2 and line[1] == ":":
                key, value = line[0], line[2:].strip()
                if key == "F":
                    folder = value
                elif key == "R":
                    files.append(f"/{folder}/{value}" if folder else f"/{value}")
                else:
                    fields.setdefault(key, value)
        if fields.get("P") and fields.get("V"):
            out.append({"name": fields["P"], "version": fields["V"], "arch": fields.get("A", ""),
                        "license": fields.get("L", ""), "source": fields.get("o", fields["P"]), "files": files})
    return out


def parse_apk_installed(text: str) -> dict[str, str]:
    return {e["name"]: e["version"] for e in apk_entries(text)}


def catalog(fs, files: bool = False) -> list[dict]:
    path = "/lib/apk/db/installed"
    text = db_text(fs, path)
    if text is None:
        return []
    layer = record_layer(fs, path)
    return [{"type": "apk", **e, "source_version": e["version"], "path": path, "layer": layer}
            for e in apk_entries(text)]  # files included: the database holds them anyway
