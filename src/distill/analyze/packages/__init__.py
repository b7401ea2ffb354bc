"""The packages an image's filesystem says are installed, read through an ImageFS: a
cataloger per database (dpkg and distroless's status.d, apk, RPM, Python distributions,
npm, Go build information, Java archives), each a module with catalog(fs, files) and pure,
bounded parsers beside it: these files come from strangers."""

from __future__ import annotations

# every cataloger, a module of this package, in the order find() lists what they find;
# its name is its packages' type. Imported when find() runs: check reads one module's
# parser (java's manifest) without loading the others.
CATALOGERS = ("dpkg", "apk", "rpm", "python", "npm", "go", "java")
ECOSYSTEMS = CATALOGERS


def installed(fs) -> dict[str, dict[str, str]]:
    """{"dpkg": {name: version}, "apk": {...}, "python": {canonical name: version}, "npm":
    {...}}; an ecosystem the image has no database of is left out."""
    from distill.analyze.packages.python import canonical_name

    out: dict[str, dict[str, str]] = {}
    for c in find(fs):
        eco = out.setdefault(c["type"], {})
        key = canonical_name(c["name"]) if c["type"] == "python" else c["name"]
        eco[f"{key}:{c['arch']}" if key in eco and c.get("arch") else key] = c["version"]
    return {k: out[k] for k in ECOSYSTEMS if k in out}


def find(fs, files: bool = False) -> list[dict]:
    """Every package the image's databases list: {type, name, version, arch, source,
    source_version, license, path (the record it was read from), layer (of that record),
    and with `files` the paths the database says it owns (dpkg, apk, RPM, Python)}."""
    import importlib

    return [p for name in CATALOGERS for p in importlib.import_module(f"{__name__}.{name}").catalog(fs, files)]
