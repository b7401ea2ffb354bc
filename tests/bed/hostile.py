"""Hostile and pathological images, made at test time: each case an image archive (OCI, a
few docker) that a stranger could send, for `load` and every analyser command. Small
enough for CI; `big=True` makes the sizes a benchmark wants (bench/hostile.py).

Each maker returns the archive's pieces; `write_corpus` writes them. Nothing here
is valid on purpose unless a case says so: the point is what the reader does with it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
import zipfile
from pathlib import Path

import zstandard

ARCH = "amd64"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
ESCAPE = "distill-hostile-escape"  # a name an escaping write would leave outside the root


# ---- tar entries, honest and not ----------------------------------------------------------
def _info(name: str, kind=tarfile.REGTYPE, size: int = 0, mode: int = 0o644, linkname: str = "", pax=None):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.linkname, info.mtime = kind, size, mode, linkname, 1_600_000_000
    if pax:
        info.pax_headers = pax
    return info


class Tar:
    """A layer tar written entry by entry; raw() appends bytes no tar library would write."""

    def __init__(self):
        self.buf = io.BytesIO()

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, pax=None) -> "Tar":
        return self._add(_info(name, size=len(data), mode=mode, pax=pax), data)

    def dir(self, name: str, mode: int = 0o755) -> "Tar":
        return self._add(_info(name, tarfile.DIRTYPE, mode=mode))

    def symlink(self, name: str, target: str) -> "Tar":
        return self._add(_info(name, tarfile.SYMTYPE, mode=0o777, linkname=target))

    def hardlink(self, name: str, target: str, data: bytes = b"") -> "Tar":
        info = _info(name, tarfile.LNKTYPE, linkname=target)
        if data:  # a hard link carrying data: written by hand, tarfile would not
            return self.raw(header(name, b"1", len(data), linkname=target) + _padded(data))
        return self._add(info)

    def _add(self, info, data: bytes = b"") -> "Tar":
        self.buf.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if data:
            self.buf.write(_padded(data))
        return self

    def raw(self, data: bytes) -> "Tar":
        self.buf.write(data)
        return self

    def bytes(self, end: bool = True) -> bytes:
        return self.buf.getvalue() + (b"\0" * 1024 if end else b"")


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def header(name: str | bytes, kind: bytes = b"0", size: int | bytes = 0, mode: bytes = b"0000644",
           uid: bytes = b"0000000", gid: bytes = b"0000000", mtime: bytes = b"13000000000", linkname: str = "",
           checksum: bytes | None = None) -> bytes:
    """A ustar header from raw fields: numbers may be base-256 or nonsense."""
    name_b = name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")
    size_b = size if isinstance(size, bytes) else b"%011o" % size
    block = bytearray(512)
    block[0:len(name_b[:100])] = name_b[:100]
    block[100:100 + len(mode)] = mode
    block[108:108 + len(uid)] = uid
    block[116:116 + len(gid)] = gid
    block[124:124 + len(size_b[:12])] = size_b[:12]
    block[136:136 + len(mtime[:12])] = mtime[:12]
    block[156:157] = kind
    block[157:157 + len(linkname)] = linkname.encode()
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = checksum if checksum is not None else b"%06o\0 " % sum(block)
    return bytes(block)


def pax_record(key: str, value: bytes) -> bytes:
    body = key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + 1 + len(body) != n:
        n = len(str(n)) + 1 + len(body)
    return str(n).encode() + b" " + body


def pax_entry(records: list[tuple[str, bytes]], kind: bytes = b"x") -> bytes:
    data = b"".join(pax_record(k, v) for k, v in records)
    return header("././@PaxHeader", kind, len(data)) + _padded(data)


# ---- ELF, shebangs, Python, packages ------------------------------------------------------
def elf(phoff: int = 64, phnum: int = 1, truncate: int | None = None, dynamic: bytes = b"", strtab: bytes = b"") -> bytes:
    """A 64-bit little-endian ELF executable with a PT_INTERP, a PT_DYNAMIC of `dynamic`
    (raw Elf64_Dyn pairs) and a string table; fields as given, however wrong."""
    interp = b"/lib64/ld-linux-x86-64.so.2\0"
    body_at = 64 + 56 * 3
    interp_at, dyn_at = body_at, body_at + len(interp)
    str_at = dyn_at + len(dynamic)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    head = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)

    def ph(kind, off, size):
        return struct.pack("<IIQQQQQQ", kind, 4, off, off, off, size, size, 8)

    load = ph(1, 0, str_at + len(strtab))
    phs = ph(3, interp_at, len(interp)) + ph(2, dyn_at, len(dynamic)) + load
    data = head + phs + interp + dynamic + strtab
    return data[:truncate] if truncate is not None else data


def dyn(*pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack("<qQ", t, v) for t, v in pairs)


DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_RUNPATH = 1, 5, 10, 29


def elf_needing(names: list[str], runpath: str = "", unterminated: bool = False) -> bytes:
    """An ELF whose dynamic section names `names` (a DT_NEEDED each) and a RUNPATH. Its
    string table is placed by a second pass (its address is the file offset: one LOAD
    at 0)."""
    strtab = b"\0"
    offsets = []
    for n in names + ([runpath] if runpath else []):
        offsets.append(len(strtab))
        strtab += n.encode() + b"\0"
    if unterminated:
        strtab = strtab.rstrip(b"\0")
    pairs = [(DT_NEEDED, o) for o in offsets[:len(names)]]
    if runpath:
        pairs.append((DT_RUNPATH, offsets[-1]))
    pairs += [(DT_STRSZ, len(strtab)), (DT_STRTAB, 0), (0, 0)]
    probe = dyn(*pairs)
    str_at = 64 + 56 * 3 + len(b"/lib64/ld-linux-x86-64.so.2\0") + len(probe)
    pairs[-2] = (DT_STRTAB, str_at)
    return elf(dynamic=dyn(*pairs), strtab=strtab)


def dpkg_status(count: int, malformed_every: int = 7) -> bytes:
    out = []
    for i in range(count):
        if malformed_every and i % malformed_every == 3:
            out.append(f"Package pkg{i}\nVersion: : :\nStatus install ok\n \n")
            continue
        out.append(f"Package: pkg{i}\nStatus: install ok installed\nVersion: 1.{i}-1\nArchitecture: amd64\n"
                   f"Depends: pkg{(i + 1) % count} (>= 1), pkg{i}\n")
    return "\n".join(out).encode()


def rpmdb_sqlite(entries: int = 99_999, data: int = 1 << 18) -> bytes:
    """An rpmdb.sqlite whose one package's header has `entries` index entries, each
    claiming 2^31-1 file names over the same `data` bytes of NULs."""
    import sqlite3
    import tempfile

    header = struct.pack(">ii", entries, data) + struct.pack(">iiii", 1117, 8, 0, 0x7FFFFFFF) * entries + b"\0" * data
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rpmdb.sqlite"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        db.execute("INSERT INTO Packages (blob) VALUES (?)", (header,))
        db.execute("INSERT INTO Packages (blob) VALUES (?)", (b"\xff" * 7,))
        db.commit()
        db.close()
        return path.read_bytes()


def jar(kind: str) -> bytes:
    """A jar with one broken member: a bad CRC, an encrypted entry, an unknown compression
    method, or a size that lies."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/maven/org.x/x/pom.properties", "groupId=org.x\nartifactId=x\nversion=1.0\n",
                   zipfile.ZIP_DEFLATED)  # the member made to lie: read first
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nImplementation-Title: x\n")
        z.writestr("inner.jar", b"PK\x03\x04" + b"\0" * 40)
    data = bytearray(buf.getvalue())
    central = data.find(b"PK\x01\x02")  # the first member's entry
    local = 0
    if kind == "crc":
        data[local + 14] ^= 0xFF
        data[central + 16] ^= 0xFF
    elif kind == "encrypted":
        data[local + 6] |= 1
        data[central + 8] |= 1
    elif kind == "method":
        data[local + 8:local + 10] = struct.pack("<H", 99)
        data[central + 10:central + 12] = struct.pack("<H", 99)
    elif kind == "size":
        data[central + 24:central + 28] = struct.pack("<I", 0x7FFFFFF0)
        data[local + 22:local + 26] = struct.pack("<I", 0x7FFFFFF0)
    return bytes(data)


# ---- archives ---------------------------------------------------------------------------------
def _blob(blobs: dict, data: bytes) -> str:
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return d


def config_of(diff_ids: list[str], config: dict | None = None, history=None, **top) -> dict:
    doc = {"architecture": ARCH, "os": "linux", "created": "2026-01-01T00:00:00Z",
           "config": config if config is not None else {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                                                           "Cmd": ["/app"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": history if history is not None else [{"created_by": "made by hostile.py"}] * len(diff_ids)}
    doc.update(top)
    return doc


def image(layers: list[bytes], config: dict | None = None, compress: str = "none", raw_config: bytes | None = None,
          history=None, **top) -> tuple[dict, bytes]:
    """(blobs, manifest bytes) of an image of these layer tars."""
    blobs: dict = {}
    media = {"none": LAYER, "gzip": LAYER_GZIP, "zstd": LAYER_ZSTD}[compress]
    descs, diff_ids = [], []
    for tar in layers:
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        data = {"none": lambda b: b, "gzip": lambda b: gzip.compress(b, 1, mtime=0),
                "zstd": lambda b: zstandard.ZstdCompressor(level=1).compress(b)}[compress](tar)
        descs.append({"mediaType": media, "digest": _blob(blobs, data), "size": len(data)})
    cfg = raw_config if raw_config is not None else json.dumps(config_of(diff_ids, config, history, **top)).encode()
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": _blob(blobs, cfg), "size": len(cfg)},
                "layers": descs}
    return blobs, json.dumps(manifest).encode()


def oci_archive(path: Path, blobs: dict, manifest: bytes | None, index: bytes | None = None,
                members: list[tuple[tarfile.TarInfo, bytes]] = ()) -> Path:
    """An OCI layout in a tar: index.json naming `manifest` (tagged "hostile"), unless
    `index` is given raw; `members` added as they are (links, traversal)."""
    if manifest is not None:
        d = _blob(blobs, manifest)
        if index is None:
            index = json.dumps({"schemaVersion": 2, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d, "size": len(manifest),
                 "annotations": {"org.opencontainers.image.ref.name": "hostile"}}]}).encode()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_600_000_000
            t.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for d, data in blobs.items():
            add(f"blobs/sha256/{d.split(':')[1]}", data)
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data else None)
    return path


def docker_archive(path: Path, blobs: dict, manifest_json: bytes, missing: set[str] = frozenset(),
                   links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))

        add("manifest.json", manifest_json)
        for name, data in blobs.items():
            if name not in missing:
                add(name, data)
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
    return path


# ---- the cases --------------------------------------------------------------------------------
def base_layer(extra=None) -> bytes:
    """A small root: the directories, /etc/passwd, and /app, an ELF needing libc."""
    t = Tar().dir("bin").dir("etc").dir("lib").dir("lib64").dir("usr").dir("usr/bin").dir("tmp", 0o1777)
    t.file("lib64/ld-linux-x86-64.so.2", elf_needing([]), 0o755).file("lib/libc.so.6", elf_needing([]))
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n").file("etc/group", b"root:x:0:\n")
    t.file("app", elf_needing(["libc.so.6"]), 0o755)
    if extra:
        extra(t)
    return t.bytes()


def _one(layers, **kw):
    return lambda path: oci_archive(path, *image(layers, **kw))


def _with(extra, **kw):
    return _one([base_layer(), Tar().raw(b"").bytes() if extra is None else _layer(extra)], **kw)


def _layer(extra) -> bytes:
    t = Tar()
    extra(t)
    return t.bytes()


def _deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _deep_dirs(depth: int) -> bytes:
    t, name = Tar(), ""
    for _ in range(depth):
        name = f"{name}d/" if name else "d/"
        t.dir(name.rstrip("/"))
    return t.file(name + "leaf", b"x").bytes()


def _many_files(count: int, layer: int) -> bytes:
    t = Tar()
    for i in range(0, count, 1000):
        t.dir(f"l{layer}/d{i // 1000}")
        for j in range(i, min(i + 1000, count)):
            t.file(f"l{layer}/d{i // 1000}/f{j}")
    return t.bytes()


def _index_dag(depth: int, blobs: dict, manifest: bytes) -> bytes:
    """Indexes nested `depth` deep, each naming the next twice: 2^depth paths to one manifest."""
    d = _blob(blobs, manifest)
    child = {"mediaType": OCI_MANIFEST, "digest": d, "size": len(manifest), "platform": {"architecture": ARCH, "os": "linux"}}
    for _ in range(depth):
        doc = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child, child]}).encode()
        child = {"mediaType": OCI_INDEX, "digest": _blob(blobs, doc), "size": len(doc)}
    return json.dumps({"schemaVersion": 2, "manifests": [dict(child, annotations={
        "org.opencontainers.image.ref.name": "hostile"})]}).encode()


def _python_app(t: Tar, modules: dict[str, bytes], metadata: bytes = b"Name: x\nVersion: 1\n", record: bytes = b"") -> None:
    t.dir("usr/lib").dir("usr/lib/python3.11").file("usr/lib/python3.11/os.py", b"")
    t.dir("usr/lib/python3.11/encodings").file("usr/lib/python3.11/encodings/__init__.py", b"")
    t.file("usr/bin/python3", elf_needing(["libc.so.6"]), 0o755)
    t.dir("srv")
    for name, code in modules.items():
        t.file(f"srv/{name}", code)
    t.dir("usr/lib/python3.11/site-packages").dir("usr/lib/python3.11/site-packages/x-1.dist-info")
    t.file("usr/lib/python3.11/site-packages/x-1.dist-info/METADATA", metadata)
    t.file("usr/lib/python3.11/site-packages/x-1.dist-info/RECORD", record)


PY_CMD = {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["python3", "/srv/main.py"]}


def cases(big: bool = False) -> dict:
    """name → maker(path) → the archive written at path."""
    n_files = 1_000_000 if big else 20_000
    n_pkgs = 100_000 if big else 5_000
    c: dict = {}
    # config documents of the wrong shape
    c["config-history-string"] = _one([base_layer()], history="not a list")
    c["config-history-strings"] = _one([base_layer()], history=["a", 1, None])
    c["config-env-numbers"] = _one([base_layer()], config={"Env": [1, None, "A=b", ["x"]], "Cmd": ["/app"]})
    c["config-cmd-string"] = _one([base_layer()], config={"Cmd": "/app --x", "Entrypoint": {"a": 1}})
    c["config-entrypoint-100k"] = _one([base_layer()], config={"Entrypoint": ["/app"] + ["x"] * 100_000})
    c["config-user-absurd"] = _one([base_layer()], config={"User": "../../x:" + "9" * 40, "Cmd": ["/app"],
                                                           "WorkingDir": 5, "ExposedPorts": [1], "Labels": "x"})
    c["config-not-object"] = _one([base_layer()], config=[1, 2])
    c["config-deep-json"] = lambda p: oci_archive(p, *image([base_layer()], raw_config=_deep_json(100_000)))
    c["history-disagrees"] = _one([base_layer()], history=[{"created_by": "x", "empty_layer": False}] * 5)
    # archive structure
    c["manifest-deep-json"] = lambda p: oci_archive(p, {}, None, index=_deep_json(100_000))
    c["index-dag-40"] = lambda p: (lambda blobs, m: oci_archive(p, blobs, None, index=_index_dag(40, blobs, m)))(
        *image([base_layer()]))
    def missing_layer(p):
        blobs, manifest = image([base_layer()])
        layer = json.loads(manifest)["layers"][0]["digest"]
        del blobs[layer]
        return oci_archive(p, blobs, manifest)
    c["archive-missing-layer"] = missing_layer
    def symlinked_layer(p):
        blobs, manifest = image([base_layer()])
        layer = json.loads(manifest)["layers"][0]["digest"]
        del blobs[layer]
        link = tarfile.TarInfo(f"blobs/sha256/{layer.split(':')[1]}")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return oci_archive(p, blobs, manifest, members=[(link, b"")])
    c["archive-symlinked-layer"] = symlinked_layer
    def traversing(p):
        blobs, manifest = image([base_layer()])
        evil = tarfile.TarInfo(f"../../{ESCAPE}")
        evil.size = 4
        return oci_archive(p, blobs, manifest, members=[(evil, b"evil")])
    c["archive-traversing-member"] = traversing
    def docker_missing(p):
        layer = base_layer()
        cfg = json.dumps(config_of(["sha256:" + hashlib.sha256(layer).hexdigest()])).encode()
        man = json.dumps([{"Config": "c.json", "RepoTags": ["hostile:1"], "Layers": ["l/layer.tar", "gone.tar"]}]).encode()
        return docker_archive(p, {"c.json": cfg, "l/layer.tar": layer}, man)
    c["docker-missing-layer"] = docker_missing
    def docker_linked(p):
        layer = base_layer()
        cfg = json.dumps(config_of(["sha256:" + hashlib.sha256(layer).hexdigest()])).encode()
        man = json.dumps([{"Config": "c.json", "RepoTags": ["hostile:2"], "Layers": ["l/layer.tar"]}]).encode()
        return docker_archive(p, {"c.json": cfg}, man, links={"l/layer.tar": "/etc/passwd"})
    c["docker-symlinked-layer"] = docker_linked
    def truncated(p):
        blobs, manifest = image([base_layer()], compress="gzip")
        layer = json.loads(manifest)["layers"][0]["digest"]
        blobs[layer] = blobs[layer][:len(blobs[layer]) // 2]
        return oci_archive(p, blobs, manifest)
    c["archive-truncated-layer"] = truncated
    c["layers-500"] = _one([base_layer()] + [Tar().file(f"f{i}", b"%d" % i).bytes() for i in range(499)])
    # trees and names
    c["tree-5000-deep"] = _one([base_layer(), _deep_dirs(5000)])
    c["tree-4000-deep"] = _one([base_layer(), _deep_dirs(4000)])
    c["names-hostile"] = _with(lambda t: t.file("new\nline", b"x").file("esc\x1b[31mred\r", b"x")
                               .file("bad-\udcff-utf8", b"x").file("./x/../y", b"x").dir("x"))
    c["names-traversal"] = _with(lambda t: t.file(f"../../{ESCAPE}", b"x"))
    c["names-absolute"] = _with(lambda t: t.file(f"/tmp/{ESCAPE}", b"x"))
    c["names-through-symlink"] = _with(lambda t: t.symlink("out", "/tmp").file(f"out/{ESCAPE}", b"x"))
    c["names-gnu-long-1mb"] = _with(lambda t: t.raw(header("././@LongLink", b"L", 1 << 20) + _padded(b"a" * (1 << 20))
                                                     + header("short", b"0", 0)))
    # whiteouts
    c["whiteouts-odd"] = _with(lambda t: t.file(".wh.").file(".wh..").file(".wh...").file("etc/.wh..wh..opq")
                               .file(".wh..wh..opq").file("/.wh.etc").symlink("lnk", "/etc").file("lnk/.wh.passwd"))
    c["duplicates-changing-type"] = _with(lambda t: t.file("x", b"1").dir("x").symlink("x", "x").file("x", b"2")
                                          .dir("x").file("x/y", b"3"))
    # hard links
    c["hardlinks-odd"] = _with(lambda t: t.hardlink("missing", "nowhere").hardlink("self", "self")
                               .hardlink("loop-a", "loop-b").hardlink("loop-b", "loop-a").hardlink("to-dir", "etc")
                               .hardlink("to-host", "/etc/shadow").hardlink("carrying", "etc/passwd", b"data")
                               .hardlink("climb", "../../etc/passwd"))
    # tar numbers and headers
    c["tar-numbers"] = _with(lambda t: t.raw(header("neg-size", size=b"\xff" + b"\xff" * 11))
                             .raw(header("huge-uid", uid=b"\x80" + b"\x7f" * 7))
                             .raw(pax_entry([("mtime", b"inf")]) + header("inf-mtime"))
                             .raw(pax_entry([("mtime", b"nan")]) + header("nan-mtime"))
                             .raw(pax_entry([("uid", b"9" * 40)]) + header("huge-pax-uid"))
                             .raw(pax_entry([("size", b"-5")]) + header("neg-pax-size"))
                             .raw(header("bad-octal", mode=b"0009xyz")))
    c["tar-typeflag"] = _with(lambda t: t.raw(header("odd", b"Z")))
    c["tar-global-pax"] = _with(lambda t: t.raw(pax_entry([("path", b"global-name")], b"g")).file("a", b"1").file("b", b"2"))
    c["tar-lying-pax"] = _with(lambda t: t.raw(b"99999 path=x\n".ljust(512, b"\0")))
    c["tar-bad-checksum"] = _with(lambda t: t.raw(header("bad-sum", checksum=b"000001\0 ")))
    c["tar-sparse"] = _with(lambda t: t.raw(header("sparse", b"S", 0)).raw(pax_entry([("GNU.sparse.map", b"0,1")])
                                                                          + header("sparse2")))
    # bombs
    c["bomb-entries-gzip"] = _one([base_layer(), _many_files(n_files, 0)], compress="gzip")
    c["bomb-entries-zstd"] = _one([base_layer(), _many_files(n_files, 1)], compress="zstd")
    if big:
        c["entries-3x1m"] = _one([base_layer()] + [_many_files(n_files, i) for i in range(3)], compress="gzip")
    c["bomb-zeros-gzip"] = _with(lambda t: t.file("zeros", b"\0" * ((1 << 30) if big else (64 << 20))), compress="gzip")
    # symlinks on the start's path
    c["symlink-loop-cmd"] = _one([base_layer(lambda t: t.symlink("loop", "loop").symlink("bin/sh", "/bin/sh"))],
                                 config={"Env": ["PATH=/loop:/bin"], "Cmd": ["/loop/app"]})
    c["symlink-chain-cmd"] = _one([base_layer(lambda t: [t.symlink(f"c{i}", f"c{i + 1}") for i in range(200)]
                                              and t.symlink("c200", "app"))], config={"Cmd": ["/c0"]})
    c["symlink-exponential"] = _one([base_layer(lambda t: [t.symlink(f"e{i}", "/".join([f"e{i + 1}"] * 4))
                                                            for i in range(30)] and t.dir("e30"))],
                                    config={"Env": ["PATH=/e0:/bin"], "Cmd": ["app"]})
    # ELF
    elves = {"truncated": elf(truncate=70), "phoff": elf(phoff=1 << 40), "phnum": elf(phnum=65535),
             "unterminated": elf_needing(["x" * 100], unterminated=True), "cycle": elf_needing(["liba.so"]),
             "runpath": elf_needing(["libz.so"], runpath=":".join(["/x"] * 50_000))}
    for kind, program in elves.items():  # each the program an image starts, its loader's reading in question
        c[f"elf-{kind}"] = _one([base_layer(lambda t, program=program: t.file("prog", program, 0o755)
                                            .file("lib/liba.so", elf_needing(["libb.so"]))
                                            .file("lib/libb.so", elf_needing(["liba.so"])))],
                                config={"Env": ["PATH=/bin"], "Cmd": ["/prog"]})
    c["shebang-huge"] = _one([base_layer(lambda t: t.file("s", b"#!" + b"/x" * (1 << 19) + b"\n", 0o755))],
                             config={"Cmd": ["/s"]})
    c["shebang-cycle"] = _one([base_layer(lambda t: t.file("a", b"#!/b\n", 0o755).file("b", b"#!/a\n", 0o755))],
                              config={"Cmd": ["/a"]})
    # Python
    elif_chain = b"x = 0\n" + b"if x == 0:\n    pass\n" + b"".join(b"elif x == %d:\n    pass\n" % i for i in range(1, 1500))
    c["python-hostile"] = _one([base_layer(lambda t: _python_app(t, {
        "main.py": b"import a\nimport chain\nimport nested\nimport huge\n",
        "a.py": b"import b\n", "b.py": b"import a\nfrom . import b\n",
        "chain.py": elif_chain,
        "nested.py": b"x = " + b"(" * 100_000 + b"1" + b")" * 100_000 + b"\n",
        "huge.py": b"import os\n" * (200_000 if big else 20_000),
    }, metadata=b"Name: x\nVersion: 1\n" + b"Requires-Dist: y\n" * 100_000, record=b"a,sha256=x,1\n" * 100_000))],
        config=PY_CMD)
    # package databases
    c["dpkg-huge-malformed"] = _with(lambda t: t.dir("var").dir("var/lib").dir("var/lib/dpkg")
                                     .file("var/lib/dpkg/status", dpkg_status(n_pkgs)))
    c["apk-malformed"] = _with(lambda t: t.dir("lib/apk").dir("lib/apk/db").file(
        "lib/apk/db/installed", b"P:x\nV:\nP\nV:1.0\x00\xff\nP:" + b"y" * 100_000 + b"\nV:1\n\n" * 3 + b"C:Q1\n"))
    c["rpm-lying-header"] = _with(lambda t: t.dir("var").dir("var/lib").dir("var/lib/rpm")
                                  .file("var/lib/rpm/rpmdb.sqlite", rpmdb_sqlite()))
    c["node-hostile"] = _with(lambda t: t.dir("usr/lib/node_modules").dir("usr/lib/node_modules/deep")
                              .file("usr/lib/node_modules/deep/package.json", b'{"name":"deep","version":"1","x":'
                                    + _deep_json(100_000) + b"}")
                              .dir("usr/lib/node_modules/types")
                              .file("usr/lib/node_modules/types/package.json", b'{"name":5,"version":[],"license":{}}')
                              .dir("usr/lib/node_modules/cyc").file("usr/lib/node_modules/cyc/package.json",
                                                                    b'{"name":"cyc","version":"1","dependencies":{"cyc":"1"}}')
                              .symlink("usr/lib/node_modules/cyc/node_modules", ".."))
    c["jars-broken"] = _with(lambda t: t.dir("opt").file("opt/crc.jar", jar("crc")).file("opt/enc.jar", jar("encrypted"))
                             .file("opt/method.jar", jar("method")).file("opt/size.jar", jar("size")))
    return c


def write_corpus(dest: Path, big: bool = False, only: set[str] | None = None) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, make in cases(big).items():
        if only is None or name in only:
            out[name] = make(dest / f"{name}.tar")
    return out
