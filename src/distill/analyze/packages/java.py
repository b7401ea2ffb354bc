"""Java archives: pom.properties (a shaded jar lists each), else the manifest."""

from __future__ import annotations

from distill.image.layers.tarstream import REG
from distill.analyze.packages.base import METADATA_MAX


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
                props = _properties(member(z, info)[:METADATA_MAX].decode("utf-8", "replace"))
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
        fields = jar_manifest(member(z, info).decode("utf-8", "replace"))
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


def jar_manifest(text: str) -> dict[str, str]:
    """A jar manifest's main section (a continuation line begins with one space; the
    section ends at the first blank line). check/java.py reads Main-Class and Class-Path
    with it, the cataloger the implementation's title and version."""
    out: dict[str, str] = {}
    key = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            break
        if line.startswith(" ") and key:
            out[key] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if sep:
            key = key.strip()
            out[key] = value.strip()
        else:
            key = None
    return out


def member(z, info) -> bytes:
    """A member's bytes, or b"" where the archive lies about it (a bad CRC or size, an
    encrypted entry, a method zipfile lacks): that member is skipped, not the image."""
    import zipfile
    import zlib

    try:
        return z.read(info)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError, ValueError, OSError):
        return b""


def catalog(fs, files: bool = False) -> list[dict]:
    candidates = [(p, n) for p, n in fs.walk() if n.inode.type == REG and p.endswith(JAR_SUFFIXES)
                  and n.inode.size <= JAR_MAX]
    paths = {id(n): p for p, n in candidates}
    out = []
    for node, stream in fs.contents([n for _, n in candidates]):
        for j in jar_packages(stream.read(JAR_MAX)):
            out.append({"type": "java", **j, "arch": "", "source": j["name"], "source_version": j["version"],
                        "license": "", "path": paths[id(node)], "layer": node.inode.layer})
    return out
