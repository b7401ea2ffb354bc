"""Debian packages: dpkg's status (and distroless's status.d, a file a package), each
package's source and .list, and licences from machine-readable copyright files."""

from __future__ import annotations

from distill.image.layers.tarstream import REG
from distill.analyze.packages.base import DB_MAX, LIST_MAX, db_text, record_layer, paragraphs


def dpkg_entries(text: str) -> list[dict]:
    """Every installed package of a dpkg status file: name, version, arch, and the source
    package it was built from (name and version; the binary's own when Source is absent)."""
    out = []
    for f in paragraphs(text):
        name, version = f.get("package"), f.get("version")
        if not name or not version or f.get("status", "install ok installed").split()[-1:] != ["installed"]:
            continue
        source, _, rest = (f.get("source") or name).partition(" ")
        source_version = rest.strip("() ") or version
        out.append({"name": name, "version": version, "arch": f.get("architecture", ""), "source": source,
                    "source_version": source_version})
    return out


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Package → version of every paragraph whose Status says installed."""
    out = {}
    for e in dpkg_entries(text):
        # a package installed for two architectures is listed under both names
        out[f"{e['name']}:{e['arch']}" if e["name"] in out else e["name"]] = e["version"]
    return out

# Debian's short licence names (copyright-format 1.0) and their SPDX identifiers
DEBIAN_LICENCES = {
    "gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later", "gpl-2": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later", "lgpl-2": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later", "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later", "agpl-3": "AGPL-3.0-only", "agpl-3+": "AGPL-3.0-or-later",
    "gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later", "gfdl-1.3": "GFDL-1.3-only",
    "gfdl-1.3+": "GFDL-1.3-or-later", "expat": "MIT", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause", "isc": "ISC", "zlib": "Zlib", "apache-2.0": "Apache-2.0",
    "artistic": "Artistic-1.0-Perl", "artistic-2.0": "Artistic-2.0", "mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0",
    "cc0-1.0": "CC0-1.0", "openssl": "OpenSSL", "curl": "curl", "python-2.0": "Python-2.0", "psf-2": "PSF-2.0",
    "x11": "X11", "ofl-1.1": "OFL-1.1", "unicode-dfs-2016": "Unicode-DFS-2016", "bsl-1.0": "BSL-1.0",
}


def debian_licences(text: str) -> list[str]:
    """The licences a machine-readable debian/copyright (copyright-format 1.0) names, in
    the order they first appear, as SPDX identifiers where Debian's short name has one;
    [] for a copyright file in free form."""
    if not text.startswith("Format:"):
        return []
    out = []
    for f in paragraphs(text):
        for part in _split_licence(f.get("license", "")):
            key = part.lower()
            name = DEBIAN_LICENCES.get(key) or DEBIAN_LICENCES.get(key.replace(".0", "")) or part
            if name and name not in out:
                out.append(name)
    return out


def _split_licence(field: str) -> list[str]:
    """A License field's names: `GPL-2+ or Artistic`, `LGPL-2.1+ and GPL-2+` give two;
    `with ... exception` is kept to its base licence."""
    words = field.replace(",", " ").split()
    out, current = [], []
    for w in words:
        if w.lower() in ("or", "and", "|", "&"):
            out.append(" ".join(current))
            current = []
        elif w.lower() == "with":
            out.append(" ".join(current))
            current = None
            break
        else:
            current.append(w)
    if current:
        out.append(" ".join(current))
    return [p for p in out if p and p.lower() not in ("public-domain", "permissive", "other")]


def catalog(fs, files: bool = False) -> list[dict]:
    out = []
    sources = [("/var/lib/dpkg/status", db_text(fs, "/var/lib/dpkg/status"))]
    if fs.is_dir("/var/lib/dpkg/status.d"):  # distroless: a file a package
        sources += [(f"/var/lib/dpkg/status.d/{n}", db_text(fs, f"/var/lib/dpkg/status.d/{n}"))
                    for n in fs.listdir("/var/lib/dpkg/status.d")]
    for path, text in sources:
        for e in dpkg_entries(text or ""):
            lists = [f"/var/lib/dpkg/info/{e['name']}:{e['arch']}.list", f"/var/lib/dpkg/info/{e['name']}.list"]
            record = next((p for p in lists if fs.is_file(p)), path)
            out.append({"type": "dpkg", **e, "license": "", "path": record, "layer": record_layer(fs, record)})
    _debian_copyrights(fs, out)
    if files:
        nodes = {c["path"]: fs.stat(c["path"], follow=True) for c in out if c["path"].endswith(".list")}
        owned = {}
        for node, stream in fs.contents([n for n in nodes.values() if n is not None]):
            owned[id(node)] = [l for l in stream.read(LIST_MAX).decode("utf-8", "replace").splitlines()
                               if l not in ("", "/.")]
        for c in out:
            node = nodes.get(c["path"])
            c["files"] = owned.get(id(node), []) if node is not None else []
    return out


def _debian_copyrights(fs, packages: list[dict]) -> None:
    """Each package's licences from its /usr/share/doc/<name>/copyright, AND-ed: one
    package's files may be under several, and using it means honouring each."""
    nodes = {}
    for c in packages:
        node = fs.stat(f"/usr/share/doc/{c['name']}/copyright", follow=True)
        if node is not None and node.inode.type == REG and node.inode.size <= DB_MAX:
            nodes.setdefault(id(node.inode), (node, []))[1].append(c)
    for node, stream in fs.contents([n for n, _ in nodes.values()]):
        names = debian_licences(stream.read(DB_MAX).decode("utf-8", "replace"))
        for c in nodes[id(node.inode)][1]:
            c["license"] = " AND ".join(names)
