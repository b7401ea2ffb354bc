"""The packages an image's filesystem says are installed, read through an ImageFS: Debian's
dpkg database (and distroless's status.d), Alpine's apk database, and Python
distributions (*.dist-info and *.egg-info in any directory). Parsers are pure and
bounded: these files come from strangers."""

from __future__ import annotations

from email.parser import HeaderParser

from .layers.tarstream import DIR, REG

DB_MAX = 64 << 20       # a package database larger than this is refused
METADATA_MAX = 1 << 20  # the part of a METADATA/PKG-INFO file read (headers come first)


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Package → version of every paragraph whose Status says installed."""
    out = {}
    for para in text.split("\n\n"):
        fields = {}
        for line in para.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        name, version = fields.get("package"), fields.get("version")
        status = fields.get("status", "install ok installed").split()
        if name and version and status[-1:] == ["installed"]:
            # a package installed for two architectures is listed under both names
            out[f"{name}:{fields.get('architecture')}" if name in out else name] = version
    return out


def parse_apk_installed(text: str) -> dict[str, str]:
    out = {}
    for block in text.split("\n\n"):
        name = version = None
        for line in block.splitlines():
            if line.startswith("P:"):
                name = line[2:].strip()
            elif line.startswith("V:"):
                version = line[2:].strip()
        if name and version:
            out[name] = version
    return out


def parse_metadata(text: str) -> tuple[str, str] | None:
    """(Name, Version) of a METADATA or PKG-INFO file."""
    headers = HeaderParser().parsestr(text, headersonly=True)
    name, version = headers.get("Name"), headers.get("Version")
    return (name.strip(), version.strip()) if name and version else None


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


def installed(fs) -> dict[str, dict[str, str]]:
    """{"dpkg": {name: version}, "apk": {...}, "python": {canonical name: version}}; an
    ecosystem the image has no database of is left out."""
    out: dict[str, dict[str, str]] = {}
    dpkg = _text(fs, "/var/lib/dpkg/status")
    status_d = fs.listdir("/var/lib/dpkg/status.d") if fs.is_dir("/var/lib/dpkg/status.d") else []
    if dpkg is not None or status_d:
        found = parse_dpkg_status(dpkg or "")
        for name in status_d:
            found.update(parse_dpkg_status(_text(fs, f"/var/lib/dpkg/status.d/{name}") or ""))
        out["dpkg"] = found
    apk = _text(fs, "/lib/apk/db/installed")
    if apk is not None:
        out["apk"] = parse_apk_installed(apk)
    python = _python(fs)
    if python:
        out["python"] = python
    return out


def _text(fs, path: str) -> str | None:
    return fs.read_text(path, DB_MAX)


def _python(fs) -> dict[str, str]:
    wanted = []
    for path, node in fs.walk():
        base = path.rpartition("/")[2]
        if base.endswith(".dist-info") and node.type == DIR:
            wanted.append(f"{path}/METADATA")
        elif base.endswith(".egg-info"):
            wanted.append(f"{path}/PKG-INFO" if node.type == DIR else path)
    nodes = [n for n in (fs.stat(p, follow=True) for p in wanted) if n is not None and n.inode.type == REG]
    out = {}
    for node, stream in fs.contents(nodes):
        found = parse_metadata(stream.read(METADATA_MAX).decode("utf-8", "replace"))
        if found:
            out[canonical_name(found[0])] = found[1]
    return out
