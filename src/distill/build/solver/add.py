"""What ADD does beyond COPY: fetch URLs (checksum checked), and unpack local archives
into the destination."""

from __future__ import annotations

import os
from contextlib import ExitStack

from distill.digest import Sha256
from distill.errors import DistillError
from distill.fs.confined import make_dirs, resolve
from distill.build.solver import copy as copying
from distill.build.solver.session import Session


def is_url(s: str) -> bool:
    return s.startswith("http://") or s.startswith("https://")


def is_archive(tree, rel: str) -> bool:
    """A tar, plain or compressed (gzip, bzip2, xz, zstd), which ADD unpacks."""
    try:
        host = tree.resolve(rel)[0]
        if not os.path.isfile(host):
            return False
        with open(host, "rb") as f:
            head = f.read(262)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"\x28\xb5\x2f\xfd":
        return True
    return head[257:262] == b"ustar"


def decompressed_any(f, head: bytes):
    from distill.image.layers.compress import decompressed, sniff

    if head[:3] == b"BZh":
        import bz2

        return bz2.BZ2File(f)
    if head[:6] == b"\xfd7zXZ\x00":
        import lzma

        return lzma.LZMAFile(f)
    return decompressed(f, sniff(head))


def extract(tree, sel: copying.Selection, dest_abs: str, root: str) -> None:
    """Unpacks each archive of the selection into `dest_abs` of the mounted rootfs."""
    from distill.image.layers.apply import Applier

    for _, found in sel.matches:
        for rel in found:
            if not is_archive(tree, rel):
                continue
            with open(tree.resolve(rel)[0], "rb") as f:
                head = f.read(6)
                f.seek(0)
                make_dirs(root, dest_abs, 0, 0)
                target = resolve(root, dest_abs)[0]
                Applier(target, whiteouts="delete").apply(decompressed_any(f, head))


def download(s: Session, url: str, checksum: str | None, stack: ExitStack) -> tuple[str, str]:
    """(file, digest) of what `url` serves, in a temp directory `stack` removes."""
    import httpx

    path = os.path.join(s.scratch_dir(stack, "add-"), "download")
    h = Sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as r:
            if r.status_code != 200:
                raise DistillError(f"ADD {url}: HTTP {r.status_code}")
            with open(path, "wb") as f:
                for chunk in r.iter_bytes(1 << 20):
                    h.update(chunk)
                    f.write(chunk)
    except httpx.HTTPError as e:
        raise DistillError(f"ADD {url}: {e}") from None
    digest = "sha256:" + h.hexdigest()
    if checksum and checksum != digest:
        raise DistillError(f"ADD {url}: checksum mismatch: expected {checksum}, got {digest}")
    return path, digest
