"""Images leave the machine with compressed layers. Layers made here are stored uncompressed
(blob.LOCAL_COMPRESSION); push and OCI archives send them as gzip, made on the way out
into a temp file. The digest of each gzip form is remembered by diffID, so a later push
asks the registry for it before compressing again."""

from __future__ import annotations

import os
from contextlib import contextmanager

from distill.image.oci import mediatypes
from distill.digest import Sha256
from distill.fs.atomic import temp_file
from distill.image.layers.compress import compressor

_GZIP_OF = {mediatypes.OCI_LAYER: mediatypes.OCI_LAYER_GZIP,
            "application/vnd.docker.image.rootfs.diff.tar": mediatypes.DOCKER_LAYER_GZIP}


def needs_compressing(desc: dict) -> bool:
    return mediatypes.compression(desc["mediaType"]) == "none"


def remembered(store, diff_id: str) -> dict | None:
    """The gzip descriptor of an uncompressed layer, if it was made before."""
    known = store.layer_facts(diff_id).get("gzip")
    return dict(known) if isinstance(known, dict) and known.get("digest") else None


@contextmanager
def gzip_form(store, desc: dict, diff_id: str):
    """Yields (descriptor, open) of `desc`'s layer as gzip: compressed into a temp file
    (deleted afterwards) when it is stored uncompressed, the stored blob otherwise."""
    if not needs_compressing(desc):
        yield desc, lambda: store.open_blob(desc["digest"])
        return
    with store.writing():  # prune leaves the temp file alone meanwhile
        fd, tmp = temp_file(store.tmp_dir, "gzip-")
        try:
            h, c = Sha256(), compressor("gzip")
            with os.fdopen(fd, "wb") as out, store.open_blob(desc["digest"]) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    piece = c.compress(chunk)
                    h.update(piece)
                    out.write(piece)
                tail = c.flush()
                h.update(tail)
                out.write(tail)
                size = out.tell()
            gz = {**{k: v for k, v in desc.items() if k not in ("digest", "size", "mediaType")},
                  "mediaType": _GZIP_OF.get(desc["mediaType"], mediatypes.OCI_LAYER_GZIP),
                  "digest": "sha256:" + h.hexdigest(), "size": size}
            store.remember_layer(diff_id, gzip=gz)
            yield gz, lambda: open(tmp, "rb")
        finally:
            os.unlink(tmp)


def shipped_manifest(store, image, layers: list[dict]) -> bytes:
    """The manifest that leaves with `layers` (the image's own, in order, or their gzip
    forms): the stored bytes when nothing changed, so the digest stays the local one."""
    if layers == image.layers:
        return store.read_blob(image.manifest_digest)
    from distill.image.store.images import canonical_json

    return canonical_json(dict(image.manifest, layers=layers))
