"""Overlay mounts: lower dirs are unpacked layers (top first), the upper dir collects what
a step changes."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager

from distill.errors import DistillError
from distill.fs import in_user_namespace
from distill.record import Record
from distill.fs.atomic import remove_tree, temp_dir
from distill.image.layers.unpack import empty_dir, snapshots_dir, unpacked

# redirect_dir and metacopy off: a renamed directory or a chmod'ed file must be copied up
# whole, so the upper dir alone is a complete layer. In a user namespace overlayfs keeps
# its marks in user.* xattrs (userxattr), where it may not follow redirects it did not make.
_OPTIONS = "index=off,redirect_dir=off,metacopy=off"
_USERNS_OPTIONS = "index=off,redirect_dir=nofollow,metacopy=off,userxattr"


def _options() -> str:
    return _USERNS_OPTIONS if in_user_namespace() else _OPTIONS


class Mounted(Record, frozen=False):
    merged: str
    upper: str
    work: str

    def changes(self) -> str:
        """The step's changes, in overlay form (whiteouts as 0/0 devices)."""
        return self.upper

    def settle(self, layer) -> None:
        """The step's changes became `layer` (None: there were none)."""


def mount_overlay(lowers: list[str], upper: str, work: str, merged: str, cwd: str) -> None:
    """Mounts an overlay of `lowers` (top first) and `upper` on `merged`: by mount(2) (a
    process of mount(8) costs ~5 ms, a step's edit pays it twice), else, for an option
    string past the kernel's page (many layers) or an error to tell, by mount(8), the lower
    dirs named relative to `cwd` (the snapshots dir), which it resolves against its own
    working directory."""
    from distill.fs.syscalls import mount

    tail = f"upperdir={upper},workdir={work},{_options()}"
    # volatile (Linux 5.10+): the unmount does not sync the whole filesystem the store is
    # on (~20 ms a step, seconds after a base's unpack); the snapshot an upper becomes
    # names the boot it was made in until it is synced (unpack.confirm_snapshots)
    for volatile in (",volatile", ""):
        if mount("overlay", merged, "overlay", f"lowerdir={':'.join(lowers)},{tail}{volatile}") == 0:
            return
    names = [os.path.relpath(l, cwd) for l in lowers]
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={':'.join(names)},{tail}", merged],
                       cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise DistillError(f"overlay mount failed: {r.stderr.strip() or r.returncode}")


def lower_stack(lowers: list[str], empty: str) -> list[str]:
    """The lowerdir option's order (top first), each directory once: an image may hold the
    same layer twice, overlayfs refuses a repeated lower dir, and dropping all but the top
    copy changes nothing (it re-applies everything the lower copy did, above the layers
    between them)."""
    out, seen = [], set()
    for d in reversed(lowers):
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out or [empty]


def umount(path: str) -> None:
    from distill.fs.syscalls import MNT_DETACH, umount as umount2

    if umount2(path) != 0:
        umount2(path, MNT_DETACH)


class OverlaySnapshotter:
    name = "overlayfs"

    def __init__(self, store):
        self.store = store

    @contextmanager
    def mount(self, layers: list[tuple[dict, str]]):
        """A writable view of the layers (descriptor, diffID; bottom first); yields Mounted."""
        lowers = [unpacked(self.store, d, i) for d, i in layers]
        base = snapshots_dir(self.store)
        tmp = temp_dir(self.store.tmp_dir, "mnt-")
        upper, work, merged = (os.path.join(tmp, d) for d in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            os.mkdir(d)
        stack = lower_stack(lowers, empty_dir(self.store))
        try:
            mount_overlay(stack, upper, work, merged, base)
            try:
                yield Mounted(merged, upper, work)
            finally:
                umount(merged)
        finally:
            remove_tree(tmp)

    @contextmanager
    def view(self, layers: list[tuple[dict, str]]):
        """A tree of the layers to read only, when they are unpacked already; else None."""
        from distill.image.layers.unpack import is_unpacked

        if not all(is_unpacked(self.store, i) for _, i in layers):
            yield None
            return
        with self.mount(layers) as m:
            yield m.merged

    def close(self) -> None:
        pass


def overlay_works(store) -> bool:
    """Whether overlayfs mounts in the store, as this process would mount it. A yes is
    remembered until the machine restarts (its boot id) or the store moves to another
    filesystem: probing is a mount and an unmount, ~7 ms of every build that runs a step.
    A no is asked again: a module loaded later makes it a yes."""
    import json

    from distill.fs import boot_id
    from distill.fs.atomic import write_file
    from distill.fs.files import read_text

    remembered = store.path("cache", "overlay-works")
    try:
        here = json.dumps([boot_id(), os.stat(store.tmp_dir).st_dev, in_user_namespace()])
    except OSError:
        here = None
    try:
        if here is not None and read_text(remembered) == here:
            return True
    except OSError:
        pass
    try:
        with OverlaySnapshotter(store).mount([]) as m:
            works = os.path.isdir(m.merged)
    except DistillError:
        return False
    if works and here is not None:
        try:
            write_file(remembered, here.encode(), durable=False)
        except OSError:
            pass
    return works
