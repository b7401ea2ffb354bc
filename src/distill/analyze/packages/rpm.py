"""RPM packages: rpmdb.sqlite's headers, deserialized in memory, every offset bounded."""

from __future__ import annotations

from distill.image.layers.tarstream import REG
from distill.analyze.packages.base import DB_MAX


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
    # each string takes a byte of the data at least, so the strings read in all are bounded
    # by it: entries that claim 2^31 strings, or that name the same bytes 100,000 times,
    # cannot make the reading longer than the header
    budget = size + count
    for i in range(count):
        tag, kind, offset, n = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in RPM_TAGS or RPM_TAGS[tag] in out or not 0 <= offset < size:
            continue  # a tag named twice is read once
        name = RPM_TAGS[tag]
        if kind in (6, 9, 8):  # STRING, I18NSTRING, STRING_ARRAY
            strings, at = [], offset
            for _ in range(min(max(1, n) if name in RPM_ARRAYS else 1, size - offset)):
                budget -= 1
                end = data.find(b"\0", at) if budget >= 0 else -1
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


def catalog(fs, files: bool = False) -> list[dict]:
    for path in RPMDBS:
        node = fs.stat(path, follow=True)
        if node is not None and node.inode.type == REG and node.inode.size <= DB_MAX:
            return [{"type": "rpm", **e, "path": path, "layer": node.inode.layer}
                    for e in rpm_entries(fs.read(path, DB_MAX))]
    return []
