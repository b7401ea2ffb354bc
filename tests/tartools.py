"""Builds tar archives entry by entry, including ones no honest tool would write."""

import io
import tarfile


def entry(name, kind="file", data=b"", linkname="", mode=None, pax=None, uid=0, gid=0, mtime=1_600_000_000):
    info = tarfile.TarInfo(name)
    info.type = {
        "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE,
    }[kind]
    info.linkname = linkname
    info.size = len(data) if kind == "file" else 0
    info.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
    info.uid, info.gid, info.mtime = uid, gid, mtime
    if pax:
        info.pax_headers = pax
    return info, data


def build(*entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()
