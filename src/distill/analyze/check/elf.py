"""The little of ELF the start check needs, read through program headers as the kernel
and the loader do (no section headers): class, byte order, machine, PT_INTERP, and the
dynamic section's DT_NEEDED, DT_RPATH and DT_RUNPATH (their strings found through
DT_STRTAB's address, mapped to a file offset by the PT_LOAD segments). Files come from
strangers: every offset and count is bounded by the bytes actually there."""

from __future__ import annotations

import re
import struct

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 15, 29
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6ffffffc, 0x6ffffffd, 0x6ffffffe, 0x6fffffff
READ_MAX = 64 << 20  # an ELF file's dynamic section lies within its first bytes of this many
MAX_VERSIONS = 1024
MAX_PHDRS = 512
MAX_DYN = 4096


_GLIBC = re.compile(r"GLIBC_(\d+(?:\.\d+)+)")


def newest_glibc(verdef) -> tuple[str, tuple[int, ...]] | None:
    """The newest GLIBC_x.y a libc defines, as (name, version numbers): the floor of
    what it provides."""
    versions = [(v, tuple(int(x) for x in m.group(1).split("."))) for v in verdef if (m := _GLIBC.fullmatch(v))]
    return max(versions, key=lambda nv: nv[1]) if versions else None


def read(fs, path: str) -> dict | None:
    """parse() of a file of an image (symlinks followed); None when it is no regular file."""
    node = fs.stat(path, follow=True)
    if node is None or node.inode.type != "0":
        return None
    return parse(fs.head(node, READ_MAX))


def parse(data: bytes) -> dict | None:
    """{"class", "machine", "type", "interp", "needed", "rpath", "runpath", "verneed": {file:
    [version names]}, "verdef": [version names]}, None if malformed."""
    if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    b64, o = data[4] == 2, "<" if data[5] == 1 else ">"
    try:
        e_type, e_machine = struct.unpack_from(o + "HH", data, 16)
        if b64:
            e_phoff, = struct.unpack_from(o + "Q", data, 32)
            e_phentsize, e_phnum = struct.unpack_from(o + "HH", data, 54)
            ph = o + "IIQQQQQQ"  # type flags offset vaddr paddr filesz memsz align
        else:
            e_phoff, = struct.unpack_from(o + "I", data, 28)
            e_phentsize, e_phnum = struct.unpack_from(o + "HH", data, 42)
            ph = o + "IIIIIIII"  # type offset vaddr paddr filesz memsz flags align
        out = {"class": 64 if b64 else 32, "machine": e_machine, "type": e_type, "interp": None, "needed": [],
               "rpath": None, "runpath": None, "verneed": {}, "verdef": []}
        loads, dynamic = [], None
        for i in range(min(e_phnum, MAX_PHDRS)):
            at = e_phoff + i * e_phentsize
            if at + struct.calcsize(ph) > len(data):
                break
            f = struct.unpack_from(ph, data, at)
            if b64:
                p_type, p_offset, p_vaddr, p_filesz = f[0], f[2], f[3], f[5]
            else:
                p_type, p_offset, p_vaddr, p_filesz = f[0], f[1], f[2], f[4]
            if p_type == PT_INTERP and 0 < p_filesz < 4096 and p_offset + p_filesz <= len(data):
                out["interp"] = data[p_offset:p_offset + p_filesz].split(b"\0", 1)[0].decode("utf-8", "replace")
            elif p_type == PT_LOAD:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == PT_DYNAMIC:
                dynamic = (p_offset, p_filesz)
        if dynamic is not None:
            _dynamic(data, o, b64, dynamic, loads, out)
        return out
    except struct.error:
        return None


def _dynamic(data: bytes, o: str, b64: bool, dynamic, loads, out: dict) -> None:
    offset, size = dynamic
    fmt = o + ("qQ" if b64 else "iI")
    step = struct.calcsize(fmt)
    tags: list[tuple[int, int]] = []
    for i in range(min(size // step, MAX_DYN)):
        at = offset + i * step
        if at + step > len(data):
            break
        tag, val = struct.unpack_from(fmt, data, at)
        if tag == DT_NULL:
            break
        tags.append((tag, val))
    strtab = next((v for t, v in tags if t == DT_STRTAB), None)
    strsz = next((v for t, v in tags if t == DT_STRSZ), 0)
    base = _to_offset(strtab, loads) if strtab is not None else None
    if base is None:
        return

    def string(at: int) -> str | None:
        start = base + at
        if at >= strsz or start >= len(data):
            return None
        return data[start:data.find(b"\0", start, start + 4096)].decode("utf-8", "replace")

    for tag, val in tags:
        if tag == DT_NEEDED and (s := string(val)):
            out["needed"].append(s)
        elif tag == DT_RPATH:
            out["rpath"] = string(val)
        elif tag == DT_RUNPATH:
            out["runpath"] = string(val)
    value = dict(tags)
    if DT_VERNEED in value:
        _verneed(data, o, _to_offset(value[DT_VERNEED], loads), value.get(DT_VERNEEDNUM, 0), string, out)
    if DT_VERDEF in value:
        _verdef(data, o, _to_offset(value[DT_VERDEF], loads), value.get(DT_VERDEFNUM, 0), string, out)


def _verneed(data: bytes, o: str, at: int | None, count: int, string, out: dict) -> None:
    """Verneed entries (which file, which versions of it) as GNU ld writes them."""
    for _ in range(min(count, MAX_VERSIONS)):
        if at is None or at + 16 > len(data):
            return
        _version, cnt, file, aux, nxt = struct.unpack_from(o + "HHIII", data, at)
        names = out["verneed"].setdefault(string(file) or "?", [])
        a = at + aux
        for _ in range(min(cnt, MAX_VERSIONS)):
            if a + 16 > len(data):
                break
            _hash, _flags, _other, name, anext = struct.unpack_from(o + "IHHII", data, a)
            if (n := string(name)):
                names.append(n)
            if not anext:
                break
            a += anext
        if not nxt:
            return
        at += nxt


def _verdef(data: bytes, o: str, at: int | None, count: int, string, out: dict) -> None:
    """The version names a library defines (each Verdef's first Verdaux)."""
    for _ in range(min(count, MAX_VERSIONS)):
        if at is None or at + 20 > len(data):
            return
        _version, _flags, _ndx, cnt, _hash, aux, nxt = struct.unpack_from(o + "HHHHIII", data, at)
        if cnt and at + aux + 8 <= len(data):
            name, _anext = struct.unpack_from(o + "II", data, at + aux)
            if (n := string(name)):
                out["verdef"].append(n)
        if not nxt:
            return
        at += nxt


def _to_offset(address: int, loads) -> int | None:
    for vaddr, offset, filesz in loads:
        if vaddr <= address < vaddr + filesz:
            return offset + address - vaddr
    return None


def ld_so_cache(data: bytes) -> dict[str, str]:
    """soname → path from /etc/ld.so.cache (glibc's new format), {} if not one."""
    magic = b"glibc-ld.so.cache1.1"
    at = data.find(magic)
    if at < 0 or len(data) < at + 48:
        return {}
    nlibs, len_strings = struct.unpack_from("<II", data, at + 20)
    out: dict[str, str] = {}
    for i in range(min(nlibs, 100_000)):
        e = at + 48 + i * 24
        if e + 24 > len(data):
            break
        _flags, key, value = struct.unpack_from("<iII", data, e)
        k, v = _cstr(data, at + key), _cstr(data, at + value)
        if k and v:
            out.setdefault(k, v)
    return out


def _cstr(data: bytes, at: int) -> str | None:
    if not 0 <= at < len(data):
        return None
    end = data.find(b"\0", at, at + 4096)
    return data[at:end].decode("utf-8", "replace") if end > at else None
