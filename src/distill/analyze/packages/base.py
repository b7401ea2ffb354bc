"""What every cataloger shares: the bounds on what is read, a database's text through
imagefs, the layer a record came from, and blank-line stanzas (dpkg's and apk's form)."""

from __future__ import annotations


DB_MAX = 64 << 20       # a package database larger than this is refused
METADATA_MAX = 1 << 20  # the part of a METADATA/PKG-INFO file read (headers come first)
LIST_MAX = 16 << 20  # a package's file list (dpkg .list, Python RECORD) read up to this


def db_text(fs, path: str) -> str | None:
    return fs.read_text(path, DB_MAX)


def record_layer(fs, path: str) -> int | None:
    node = fs.stat(path, follow=True)
    return node.inode.layer if node is not None else None


def paragraphs(text: str):
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
