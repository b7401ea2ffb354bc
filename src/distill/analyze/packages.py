"""The packages an image's filesystem says are installed, read through an ImageFS: Debian's
dpkg database (and distroless's status.d), Alpine's apk database, and Python
distributions (*.dist-info and *.egg-info in any directory). Parsers are pure and
bounded: these files come from strangers."""

from __future__ import annotations

import posixpath
from email.parser import HeaderParser

from distill.image.layers.tarstream import DIR, REG

DB_MAX = 64 << 20       # a package database larger than this is refused
METADATA_MAX = 1 << 20  # the part of a METADATA/PKG-INFO file read (headers come first)


def _paragraphs(text: str):
    """Each paragraph of a deb822 file as {lowercased field: value} (continuation lines
    of a field are skipped: none of the fields read here has one)."""
    for para in text.split("\n\n"):
        fields = {}
        for line in para.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if fields:
            yield fields


def dpkg_entries(text: str) -> list[dict]:
    """Every installed package of a dpkg status file: name, version, arch, and the source
    package it was built from (name and version; the binary's own when Source is absent)."""
    out = []
    for f in _paragraphs(text):
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
    for f in _paragraphs(text):
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


ECOSYSTEMS = ("dpkg", "apk", "rpm", "python", "npm", "go", "java")
LIST_MAX = 16 << 20  # a package's file list (dpkg .list, Python RECORD) read up to this


def installed(fs) -> dict[str, dict[str, str]]:
    """{"dpkg": {name: version}, "apk": {...}, "python": {canonical name: version}, "npm":
    {...}}; an ecosystem the image has no database of is left out."""
    out: dict[str, dict[str, str]] = {}
    for c in find(fs):
        eco = out.setdefault(c["type"], {})
        key = canonical_name(c["name"]) if c["type"] == "python" else c["name"]
        eco[f"{key}:{c['arch']}" if key in eco and c.get("arch") else key] = c["version"]
    return {k: out[k] for k in ECOSYSTEMS if k in out}


def find(fs, files: bool = False) -> list[dict]:
    """Every package the image's databases list: {type, name, version, arch, source,
    source_version, license, path (the record it was read from), layer (of that record),
    and with `files` the paths the database says it owns}."""
    return _dpkg(fs, files) + _apk(fs) + _rpm(fs) + _python(fs, files) + _npm(fs) + _go(fs) + _java(fs)


def _text(fs, path: str) -> str | None:
    return fs.read_text(path, DB_MAX)


def _layer(fs, path: str) -> int | None:
    node = fs.stat(path, follow=True)
    return node.inode.layer if node is not None else None


def _dpkg(fs, files: bool) -> list[dict]:
    out = []
    sources = [("/var/lib/dpkg/status", _text(fs, "/var/lib/dpkg/status"))]
    if fs.is_dir("/var/lib/dpkg/status.d"):  # distroless: a file a package
        sources += [(f"/var/lib/dpkg/status.d/{n}", _text(fs, f"/var/lib/dpkg/status.d/{n}"))
                    for n in fs.listdir("/var/lib/dpkg/status.d")]
    for path, text in sources:
        for e in dpkg_entries(text or ""):
            lists = [f"/var/lib/dpkg/info/{e['name']}:{e['arch']}.list", f"/var/lib/dpkg/info/{e['name']}.list"]
            record = next((p for p in lists if fs.is_file(p)), path)
            out.append({"type": "dpkg", **e, "license": "", "path": record, "layer": _layer(fs, record)})
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


def _apk(fs) -> list[dict]:
    path = "/lib/apk/db/installed"
    text = _text(fs, path)
    if text is None:
        return []
    layer = _layer(fs, path)
    return [{"type": "apk", **e, "source_version": e["version"], "path": path, "layer": layer}
            for e in apk_entries(text)]  # files included: the database holds them anyway


def _python(fs, files: bool) -> list[dict]:
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


def _npm(fs) -> list[dict]:
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
        except ValueError:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not isinstance(doc.get("version"), str):
            continue
        licence = doc.get("license")
        out.append({"type": "npm", "name": doc["name"], "version": doc["version"], "arch": "", "source": doc["name"],
                    "source_version": doc["version"], "license": licence if isinstance(licence, str) else "",
                    "path": by_node.get(id(node.inode), ""), "layer": node.inode.layer})
    return out


GO_MAGIC = b"\xff Go buildinf:"
GO_NOTE = b"\x04\x00\x00\x00Go\x00\x00"  # a note's type 4 and its owner, "Go"
GO_NOTE_WITHIN = 8192
GO_EXEC_MAX = 512 << 20   # executables larger than this are not searched
GO_INFO_MAX = 1 << 20     # the version and module strings, at most


def go_buildinfo(stream) -> tuple[str, str] | None:
    """(Go version, module info) of a Go executable, read as `debug/buildinfo` finds them:
    a 16-aligned header `\xff Go buildinf:`, byte 15 flags (2: strings inline, Go 1.18
    and later), then two uvarint-prefixed strings; the module info between 16-byte
    sentinels. Streamed: a chunk at a time, bounded."""
    tail, base = b"", 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return None
        buf = tail + chunk
        at = buf.find(GO_MAGIC)
        while at >= 0 and (base + at) % 16:
            at = buf.find(GO_MAGIC, at + 1)
        if at >= 0:
            buf = buf[at:]
            while len(buf) < 32 + 2 * GO_INFO_MAX:
                more = stream.read(1 << 20)
                if not more:
                    break
                buf += more
            return _go_strings(buf)
        keep = len(GO_MAGIC) - 1
        base += len(buf) - keep
        tail = buf[-keep:]


def _uvarint(b: bytes, p: int) -> tuple[int, int]:
    x = shift = 0
    while p < len(b) and shift < 64:
        c = b[p]
        p += 1
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, p
        shift += 7
    raise ValueError("bad uvarint")


def _go_strings(buf: bytes) -> tuple[str, str] | None:
    if len(buf) < 32 or not buf[15] & 2:
        return None  # before Go 1.18 the strings are pointers into the data: not read here
    try:
        n, p = _uvarint(buf, 32)
        version = buf[p:p + n]
        p += n
        n, p = _uvarint(buf, p)
        mod = buf[p:p + n]
    except ValueError:
        return None
    if not version.startswith(b"go") or len(version) > 64:
        return None
    info = mod[16:-16] if len(mod) >= 32 else b""
    return version.decode("ascii", "replace"), info.decode("utf-8", "replace")


def go_modules(version: str, info: str) -> list[dict]:
    """The standard library at the toolchain's version, the main module and each dep
    (a `=>` line replaces the dep before it), as OSV's Go ecosystem names them."""
    out = [{"name": "stdlib", "version": version.removeprefix("go").split()[0], "main": False}]
    for line in info.splitlines():
        parts = line.split("\t")
        if parts[0] == "mod" and len(parts) >= 2:
            out.append({"name": parts[1], "version": parts[2] if len(parts) > 2 else "(devel)", "main": True})
        elif parts[0] == "path" and len(parts) >= 2 and not any(m["main"] for m in out):
            out.append({"name": parts[1], "version": "(devel)", "main": True, "path_only": True})
        elif parts[0] == "dep" and len(parts) >= 3:
            out.append({"name": parts[1], "version": parts[2], "main": False})
        elif parts[0] == "=>" and len(parts) >= 3 and len(out) > 1:
            out[-1] = {**out[-1], "name": parts[1], "version": parts[2]}
    mains = [m for m in out if m["main"]]
    if len(mains) > 1:  # a `mod` line came after `path`: keep the module
        out = [m for m in out if not m.get("path_only")]
    return out


def _go(fs) -> list[dict]:
    candidates = []
    for path, node in fs.walk():
        inode = node.inode
        if node.type == REG and inode.mode & 0o111 and 1024 <= inode.size <= GO_EXEC_MAX:
            candidates.append((path, node))
    paths = {id(n): p for p, n in candidates}
    out = []
    for node, stream in fs.contents([n for _, n in candidates]):
        head = stream.read(GO_NOTE_WITHIN)
        # Go's linker puts its build ID note (owner "Go", type 4) in the first page: only
        # such executables are read on to their build info
        found = go_buildinfo(_Prefixed(head, stream)) if head[:4] == b"\x7fELF" and GO_NOTE in head else None
        if found is None:
            continue
        for m in go_modules(*found):
            out.append({"type": "go", "name": m["name"], "version": m["version"], "arch": "", "source": m["name"],
                        "source_version": m["version"], "license": "", "path": paths[id(node)],
                        "layer": node.inode.layer})
    return out


class _Prefixed:
    """A stream with some bytes already read put back in front."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def read(self, n: int) -> bytes:
        if self.head:
            data, self.head = self.head, b""
            return data + self.stream.read(max(0, n - len(data)))
        return self.stream.read(n)


JAR_MAX = 256 << 20
JAR_SUFFIXES = (".jar", ".war", ".ear")


def jar_packages(data: bytes) -> list[dict]:
    """What a Java archive says it is: each META-INF/maven/**/pom.properties (a shaded
    jar holds several), else its manifest's Implementation-Title/Version or
    Bundle-SymbolicName/Version. Entries are read bounded."""
    import io
    import zipfile

    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        return []
    out = []
    with z:
        for info in z.infolist():
            if info.filename.startswith("META-INF/maven/") and info.filename.endswith("/pom.properties") \
                    and info.file_size <= METADATA_MAX:
                props = _properties(z.read(info)[:METADATA_MAX].decode("utf-8", "replace"))
                if props.get("groupId") and props.get("artifactId") and props.get("version"):
                    out.append({"name": f"{props['groupId']}:{props['artifactId']}", "version": props["version"]})
        if out:
            return out
        try:
            info = z.getinfo("META-INF/MANIFEST.MF")
        except KeyError:
            return []
        if info.file_size > METADATA_MAX:
            return []
        fields = _manifest(z.read(info).decode("utf-8", "replace"))
        name = fields.get("Implementation-Title") or fields.get("Bundle-SymbolicName", "").split(";")[0]
        version = fields.get("Implementation-Version") or fields.get("Bundle-Version")
        return [{"name": name.strip(), "version": version.strip()}] if name and version else []


def _properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _manifest(text: str) -> dict[str, str]:
    """The main section of a jar manifest (a continuation line starts with a space)."""
    out, last = {}, None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            break  # the main section ends at the first blank line
        if line.startswith(" ") and last:
            out[last] += line[1:]
        elif ":" in line:
            last, _, value = line.partition(":")
            out[last] = value.strip()
    return out


def _java(fs) -> list[dict]:
    candidates = [(p, n) for p, n in fs.walk() if n.inode.type == REG and p.endswith(JAR_SUFFIXES)
                  and n.inode.size <= JAR_MAX]
    paths = {id(n): p for p, n in candidates}
    out = []
    for node, stream in fs.contents([n for _, n in candidates]):
        for j in jar_packages(stream.read(JAR_MAX)):
            out.append({"type": "java", **j, "arch": "", "source": j["name"], "source_version": j["version"],
                        "license": "", "path": paths[id(node)], "layer": node.inode.layer})
    return out


RPMDBS = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1014: "license", 1022: "arch",
            1044: "sourcerpm", 1116: "dirindexes", 1117: "basenames", 1118: "dirnames"}
RPM_ARRAYS = {"dirindexes", "basenames", "dirnames"}
RPM_HEADER_MAX = 64 << 20


def rpm_header(blob: bytes) -> dict:
    """The tags read here of an RPM header as the database stores it (no lead, no magic):
    index count and data length (big-endian int32), 16-byte index entries (tag, type,
    offset, count), then the data. Every offset is bounded by the data."""
    import struct

    if len(blob) < 8:
        raise ValueError("short RPM header")
    count, size = struct.unpack_from(">ii", blob)
    data_at = 8 + 16 * count
    if count < 0 or size < 0 or data_at + size > len(blob) or count > 100_000:
        raise ValueError("RPM header sizes out of bounds")
    data = blob[data_at:data_at + size]
    out = {}
    for i in range(count):
        tag, kind, offset, n = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in RPM_TAGS or not 0 <= offset < size:
            continue
        name = RPM_TAGS[tag]
        if kind in (6, 9, 8):  # STRING, I18NSTRING, STRING_ARRAY
            strings, at = [], offset
            for _ in range(max(1, n) if name in RPM_ARRAYS else 1):
                end = data.find(b"\0", at)
                if end < 0:
                    break
                strings.append(data[at:end].decode("utf-8", "replace"))
                at = end + 1
            out[name] = strings if name in RPM_ARRAYS else (strings[0] if strings else "")
        elif kind == 4 and 0 <= n and offset + 4 * max(1, n) <= size:  # INT32
            values = list(struct.unpack_from(f">{max(1, n)}i", data, offset))
            out[name] = values if name in RPM_ARRAYS else values[0]
    return out


def rpm_entries(db: bytes) -> list[dict]:
    """Every package of an rpmdb.sqlite (its bytes: read in memory, never written out;
    changes still in a -wal file are not seen)."""
    import sqlite3

    if len(db) > 19 and db[18:20] == b"\x02\x02":
        db = db[:18] + b"\x01\x01" + db[20:]  # a WAL database, read as a plain one: memory has no -wal
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(db)
        rows = con.execute("SELECT blob FROM Packages").fetchall()
    except sqlite3.DatabaseError:
        return []
    finally:
        con.close()
    out = []
    for (blob,) in rows:
        try:
            h = rpm_header(bytes(blob))
        except ValueError:
            continue
        if not h.get("name") or not h.get("version"):
            continue
        version = f"{h['version']}-{h['release']}" if h.get("release") else h["version"]
        if h.get("epoch"):
            version = f"{h['epoch']}:{version}"
        source = (h.get("sourcerpm") or "").removesuffix(".src.rpm").rsplit("-", 2)[0] or h["name"]
        dirs = h.get("dirnames") or []
        files = [f"{dirs[i]}{b}" for b, i in zip(h.get("basenames") or [], h.get("dirindexes") or [])
                 if 0 <= i < len(dirs)]
        out.append({"name": h["name"], "version": version, "arch": h.get("arch", ""), "license": h.get("license", ""),
                    "source": source, "source_version": version, "files": files})
    return sorted(out, key=lambda e: (e["name"], e["arch"]))


def _rpm(fs) -> list[dict]:
    for path in RPMDBS:
        node = fs.stat(path, follow=True)
        if node is not None and node.inode.type == REG and node.inode.size <= DB_MAX:
            return [{"type": "rpm", **e, "path": path, "layer": node.inode.layer}
                    for e in rpm_entries(fs.read(path, DB_MAX))]
    return []
