"""Images made layer by layer in a test, and the two ways to see their files: imagefs's
view (read from the layers) and a real unpack (the layer applier, whiteouts deleting)."""

import gzip
import hashlib
import os
import stat
from pathlib import Path

from distill import digest
from distill.config import new_config
from distill.image.store.images import from_descriptor, write_image
from distill.image.imagefs import ImageFS
from distill.image.layers.blob import apply_layer
from distill.image.oci.mediatypes import OCI_LAYER, OCI_LAYER_GZIP
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


_FIRST: dict[str, str] = {}  # a first layer's digest → its unpacked tree, kept while the tests run


def _first_layer(store, desc: dict) -> str:
    """The first layer unpacked once: most test images share their base's."""
    if desc["digest"] not in _FIRST:
        import atexit
        import shutil
        import tempfile

        tree = tempfile.mkdtemp(prefix="distill-test-base-", dir="/var/tmp")
        atexit.register(shutil.rmtree, tree, True)
        apply_layer(store, desc, tree, whiteouts="delete")
        _FIRST[desc["digest"]] = tree
    return _FIRST[desc["digest"]]


def assert_view_is_unpack(store, image, work: Path) -> None:
    """imagefs's view equals the real unpack: the first layer unpacked once, the rest
    applied over it on an overlay mount (the applier deleting through it as on a disk)."""
    from distill.build.snapshot.overlay import mount_overlay, umount

    fs = ImageFS(store, image.layers, image.diff_ids, image.config)
    lower = _first_layer(store, image.layers[0]) if image.layers else None
    if lower is None or len(image.layers) == 1:
        expected = tree_facts(Path(lower) if lower else unpacked(store, image, work))
    else:
        for d in ("upper", "work", "merged"):
            (work / d).mkdir(parents=True)
        mount_overlay([lower], str(work / "upper"), str(work / "work"), str(work / "merged"), str(work))
        try:
            for desc in image.layers[1:]:
                apply_layer(store, desc, str(work / "merged"), whiteouts="delete")
            expected = tree_facts(work / "merged")
        finally:
            umount(str(work / "merged"))
    got = view_facts(fs)
    assert got == expected, {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                             if got.get(k) != expected.get(k)}
