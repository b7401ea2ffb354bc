"""Go executables' modules, from the build information the linker embeds."""

from __future__ import annotations

from distill.fs.files import Prefixed
from distill.image.layers.tarstream import REG


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


def catalog(fs, files: bool = False) -> list[dict]:
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
        found = go_buildinfo(Prefixed(head, stream)) if head[:4] == b"\x7fELF" and GO_NOTE in head else None
        if found is None:
            continue
        for m in go_modules(*found):
            out.append({"type": "go", "name": m["name"], "version": m["version"], "arch": "", "source": m["name"],
                        "source_version": m["version"], "license": "", "path": paths[id(node)],
                        "layer": node.inode.layer})
    return out
