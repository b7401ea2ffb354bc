"""Read any image's filesystem without unpacking it (fs.py), and say which layer, stage
and Dockerfile line wrote each entry."""

from __future__ import annotations

from distill.errors import DistillError, NotFound
from distill.image.imagefs.fs import TYPES, ImageFS
from distill.image.imagefs.tree import Node

__all__ = ["ImageFS", "Node", "TYPES", "image_fs", "open_image", "stage_image", "recorded_stage_image",
           "build_record_of", "Attribution"]


def image_fs(store, text: str, stage: str | None = None, reach=None) -> tuple[ImageFS, "Attribution"]:
    """The filesystem of the image `text` names (sources.open_source, reached as `reach`
    says), or of one of its build's stages, and who wrote each layer."""
    from distill.image.sources import Reach, open_source

    return open_image(store, open_source(store, text, reach or Reach(), in_place=stage is None), stage)


def open_image(store, source, stage: str | None = None) -> tuple[ImageFS, "Attribution"]:
    """The filesystem of an ImageSource, or of one of its build's stages (by name or
    index, through its build record: an image the store holds), and who wrote each layer."""
    from distill.image.sources import StoreBlobs

    image, record = source.image, None
    if isinstance(source.blobs, StoreBlobs):
        try:
            record = build_record_of(store, image)
        except DistillError:
            pass  # a record only adds attribution: the files are read without one
    blobs, name = source.blobs, image.name or source.name
    if stage is not None:
        image = stage_image(store, image, record, stage)
        name = image.name or image.manifest_digest
    return ImageFS(store, image.layers, image.diff_ids, image.config, name, blobs), Attribution(image, record)


def stage_image(store, image, record: dict | None, stage: str):
    """The image of one of the stages of the build that made `image` (by name or index)."""
    text = image.name or image.manifest_digest
    if record is None:
        raise DistillError(f"{text} has no build record, so its stages cannot be found")
    chosen = [s for s in record["stages"] if stage.lower() in (s.get("name"), stage_label(s)) or str(s.get("index")) == stage]
    if not chosen or not chosen[0].get("image"):
        names = ", ".join(stage_label(s) for s in record["stages"])
        raise NotFound(f"{text} has no built stage {stage!r} (its stages: {names})")
    return recorded_stage_image(store, chosen[0], text)


def stage_label(stage: dict) -> str:
    """A recorded stage as progress and the analysers show it: its name, or BuildKit's
    `stage-N` for an unnamed one (either, or its index, is accepted by --stage)."""
    return stage.get("name") or f"stage-{stage.get('index')}"


def recorded_stage_image(store, stage: dict, name: str | None = None):
    """The image a build record's stage entry names."""
    from distill.image.store.images import from_descriptor
    from distill.image.oci.mediatypes import OCI_MANIFEST

    return from_descriptor(store, {"mediaType": OCI_MANIFEST, "digest": stage["image"]["manifest"]}, name)


def build_record_of(store, image) -> dict | None:
    """The build record of `image` (provenance.py), None for an image built elsewhere;
    DistillError for one that is not a record."""
    import json

    from distill.image.oci.mediatypes import BUILD_RECORD
    from distill.image.store.records import find

    found = find(store, image.manifest_digest, BUILD_RECORD)
    if found is None:
        return None
    try:
        record = json.loads(found[1])
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("stages"), list):
        raise DistillError(f"the build record of {image.name or image.manifest_digest} is not valid")
    return record


class Attribution:
    """Who wrote each layer of an image: the stage and Dockerfile line (from the build
    record), else the history entry that made it."""

    def __init__(self, image, record: dict | None):
        self.image, self.record = image, record
        by_digest = {}
        if record:
            for s in record["stages"]:
                for step in s.get("steps") or []:
                    if step.get("layer"):
                        ref = stage_label(s)  # as BuildKit names it
                        by_digest.setdefault(step["layer"], (ref, step.get("line"), step.get("instruction")))
        history = [h for h in image.config.get("history") or [] if not h.get("empty_layer")]
        self.layers = []
        for i, desc in enumerate(image.layers):
            stage, line, instruction = by_digest.get(desc["digest"], (None, None, None))
            created_by = history[i].get("created_by", "") if i < len(history) else ""
            self.layers.append({"digest": desc["digest"], "stage": stage, "line": line,
                                "created_by": instruction or created_by})

    def of(self, layer: int) -> dict:
        return self.layers[layer] if 0 <= layer < len(self.layers) else {}
