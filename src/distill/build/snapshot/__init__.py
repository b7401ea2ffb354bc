"""Filesystem snapshots for build steps: layers unpacked once, stacked with overlayfs
(or copied, where overlayfs is missing); the upper dir of a step becomes its layer."""


_OVERLAY_OK: dict = {}


def snapshotter(store):
    """overlayfs where it mounts; the copy-based fallback elsewhere (or when
    DISTILL_SNAPSHOTTER=copy asks for it)."""
    import os

    from distill.build.snapshot.copy import CopySnapshotter
    from distill.build.snapshot.overlay import OverlaySnapshotter, overlay_works

    choice = os.environ.get("DISTILL_SNAPSHOTTER", "auto")
    if choice == "auto" and store.root not in _OVERLAY_OK:
        _OVERLAY_OK[store.root] = overlay_works(store)
    if choice == "copy" or (choice == "auto" and not _OVERLAY_OK[store.root]):
        return CopySnapshotter(store)
    return OverlaySnapshotter(store)
