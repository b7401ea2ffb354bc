"""Images made layer by layer in a test, and the two ways to see their files: imagefs's
view (read from the layers) and a real unpack (the layer applier, whiteouts deleting)."""

import gzip
import hashlib
import os
import stat
from pathlib import Path

from distill import digest
from distill.config import new_config
from distill.image import from_descriptor, write_image
from distill.imagefs import ImageFS
from distill.layers.blob import apply_layer
from distill.mediatypes import OCI_LAYER, OCI_LAYER_GZIP
from distill.platform import host


def image_of(store, layers: list[bytes], compress: bool = False, name: str | None = None):
    """An image in `store` with these layer tars (gzip-compressed blobs with `compress`)."""
    descs, diff_ids = [], []
    for tar in layers:
        diff_ids.append(digest.of_bytes(tar))
        blob = gzip.compress(tar, mtime=0) if compress else tar
        descs.append({"mediaType": OCI_LAYER_GZIP if compress else OCI_LAYER, "digest": store.write_blob(blob),
                      "size": len(blob)})
    desc = write_image(store, new_config(host(), diff_ids, "test"), descs)
    if name:
        store.set_tag(name, desc)
    return from_descriptor(store, desc, name)


def unpacked(store, image, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for desc in image.layers:
        apply_layer(store, desc, str(dest), whiteouts="delete")
    return dest


def tree_facts(root: Path) -> dict:
    """path → (type, mode, uid, gid, size, link target, content digest) of an unpacked tree."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = "/" + os.path.relpath(p, root)
            kind = {stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFREG: "file", stat.S_IFCHR: "char",
                    stat.S_IFBLK: "block", stat.S_IFIFO: "fifo"}[stat.S_IFMT(st.st_mode)]
            content = hashlib.sha256(open(p, "rb").read()).hexdigest() if kind == "file" else None
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size if kind == "file" else 0,
                        os.readlink(p) if kind == "symlink" else None, content)
    return out


def view_facts(fs: ImageFS) -> dict:
    """The same facts as imagefs sees them (a hard link is the file it shares)."""
    out = {}
    files = {}
    for path, node in fs.walk("/"):
        inode = node.inode
        kind = {"0": "file", "5": "dir", "2": "symlink", "3": "char", "4": "block", "6": "fifo"}[inode.type]
        mode = 0o777 if kind == "symlink" else inode.mode  # as the kernel shows every symlink
        out[path] = [kind, mode, inode.uid, inode.gid, inode.size if kind == "file" else 0,
                     inode.linkname if kind == "symlink" else None, None]
        if kind == "file":
            files[id(node)] = path
    for node, stream in fs.contents([n for _, n in fs.walk("/") if id(n) in files]):
        out[files[id(node)]][6] = hashlib.sha256(stream.read()).hexdigest()
    return {k: tuple(v) for k, v in out.items()}


def assert_view_is_unpack(store, image, work: Path) -> None:
    fs = ImageFS(store, image.layers, image.diff_ids, image.config)
    expected = tree_facts(unpacked(store, image, work))
    got = view_facts(fs)
    assert got == expected, {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                             if got.get(k) != expected.get(k)}
