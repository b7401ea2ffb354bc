"""COPY without a mount. When nothing a COPY writes exists in the image yet (apart from
the directories it writes into, and files it replaces with files), its layer is written straight from the selected files
and its snapshot straight beside it (a few small files: the layer alone, see `small`): no
overlay mount, no copy through it, no walk of the upper dir. Regular files that an earlier
build of the same step wrote with the same content and metadata are hard-linked from that
build's snapshot rather than written again (snapshots never change, and creating files is
the slow part of a big COPY), and their tar entries are copied from that build's layer
rather than read from the files again."""

from __future__ import annotations

import json
import os
import posixpath
import stat
import time

from distill.fs.files import read_bytes, read_text, write_text
from distill.image.layers.create import clamp_mtime, source_date_epoch
from distill.image.layers.tarstream import BLOCK, DIR, REG, SYMLINK
from distill.record import Record
from distill.image.layers.unpack import adopt, is_complete, snapshot_id, snapshots_dir
from distill.fs.atomic import remove_tree, temp_dir
from distill.threads import Worker
from distill.build.solver.copy import CopyItem, write_tar
from distill.build.solver.views import Unsuitable, View

_TEXT_MAX = 4 << 20
_SPLICE_CHUNK = 1 << 20
_SMALL_ENTRIES, _SMALL_BYTES = 8, 1 << 20


def small(items: list[CopyItem]) -> bool:
    """Few and small enough to write the layer alone: a snapshot (a tree, an index, a
    pointer, a thread to write them) would cost more than unpacking the layer later, which
    only a following step of the stage asks for, and a few files gain nothing from linking
    or splicing. The app.py edit of a typical Dockerfile takes this path."""
    return len(items) <= _SMALL_ENTRIES and sum(it.size for it in items) <= _SMALL_BYTES


def entries(image: View, items: list[CopyItem]) -> list[CopyItem]:
    """The layer: the image's directories the copy writes into (with their metadata, as
    overlayfs would copy them up), then the items. Unsuitable when an item would replace
    anything but a directory with a directory or a regular file with a regular file."""
    epoch = source_date_epoch()
    fresh: set[str] = set()   # directories the copy creates
    into: set[str] = set()    # the image's directories it writes into
    for it in items:
        it.mtime = clamp_mtime(it.mtime, epoch)  # what the tar holds, so the snapshot matches it
        name = it.name.strip("/")
        parent = posixpath.dirname(name)
        if parent in fresh:
            if it.type == DIR:
                fresh.add(name)
            continue
        found = image.lookup(name)
        if found is None:
            if it.type == DIR:
                fresh.add(name)
        elif not (it.type == DIR and found.kind == "dir" or it.type == REG and found.kind == "file"):
            raise Unsuitable(name)  # a file replacing a file is its entry alone, as the overlay's copy
        if parent:
            into.add(parent)
    named = {it.name.strip("/") for it in items}
    ancestors: set[str] = set()
    for d in into:
        while d and d not in ancestors:
            ancestors.add(d)
            d = posixpath.dirname(d)
    # A directory an entry lands in changes now, as the kernel would date it; those above
    # it are copied up as they are.
    now = clamp_mtime(time.time(), epoch)
    return [_dir_item(image, d, now if d in into else None) for d in sorted(ancestors - named)] + items


def _dir_item(image: View, path: str, mtime: int | None) -> CopyItem:
    found = image.lookup(path)
    if found is None or found.kind != "dir":
        raise Unsuitable(path)
    return CopyItem(path, DIR, found.mode, found.uid, found.gid, found.mtime if mtime is None else mtime,
                    xattrs=found.xattrs())


# ---- the layer and its snapshot -------------------------------------------------------
# Beside each snapshot a COPY writes, an index of it: for each entry where it starts in the
# layer blob and, for a regular file, its content key ("entries": name → [start, key…]);
# and whether a name is one file reached literally ("linkable": no symlink among them).

def _file_key(it: CopyItem) -> list:
    return [it.digest, it.mode, it.uid, it.gid, int(it.mtime)]


def _last_path(store, identity: str) -> str:
    d = os.path.join(snapshots_dir(store), "last")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, identity.split(":")[-1][:32])


class Previous(Record):
    """What an earlier build of the same step wrote."""

    sid: str
    root: str
    blob: str | None      # the uncompressed layer blob's digest
    entries: dict
    linkable: bool

    def same_file(self, name: str, key: list | None) -> bool:
        """Whether `name` held a regular file with content key `key` (None: never)."""
        return key is not None and self.entries.get(name, ())[1:] == key


def _previous(store, identity: str) -> Previous | None:
    try:
        sid = read_text(_last_path(store, identity)).strip()
        root = os.path.join(snapshots_dir(store), sid)
        if not is_complete(root):
            return None
        index = json.loads(read_bytes(root + ".files"))
        return Previous(sid, root, index["blob"], index["entries"], index["linkable"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Splice:
    """Entries taken from the previous layer's bytes instead of written anew: the same
    header, byte for byte, and for a regular file the same content key. Neighbouring
    entries come out as one run, so an edit of one file in thousands copies two runs.
    Read with pread into one buffer: page faults on a mapping cost more on a VM."""

    def __init__(self, blob: str, previous: Previous, files: dict[str, list]):
        self._fd = os.open(blob, os.O_RDONLY | os.O_CLOEXEC)
        self._size = os.fstat(self._fd).st_size
        self._buf = bytearray(_SPLICE_CHUNK)
        self._previous = previous
        self._files = files  # the content keys of the new layer's files
        self._run: list[int] | None = None  # [start, end) in the previous blob

    def take(self, it: CopyItem, header: bytes, out) -> bool:
        known = self._previous.entries.get(it.name)
        start = known[0] if known else 0
        end = start + len(header) + (it.size + (-it.size % BLOCK) if it.type == REG else 0)
        if not known or end > self._size or (
                it.type == REG and not self._previous.same_file(it.name, self._files.get(it.name))
                ) or os.pread(self._fd, len(header), start) != header:
            self.flush(out)
            return False
        if self._run and self._run[1] == start:
            self._run[1] = end
        else:
            self.flush(out)
            self._run = [start, end]
        return True

    def flush(self, out) -> None:
        if not self._run:
            return
        at, end = self._run
        self._run = None
        with memoryview(self._buf) as view:
            while at < end:
                n = os.preadv(self._fd, [view[:min(len(view), end - at)]], at)
                if n <= 0:
                    raise OSError("the previous layer shrank while being read")
                out.write(view[:n])
                at += n

    def close(self) -> None:
        os.close(self._fd)


def _splice(store, previous: Previous | None, files: dict[str, list]) -> Splice | None:
    if previous is None or previous.blob is None:
        return None
    try:
        return Splice(store.blob_path(previous.blob), previous, files)
    except OSError:  # pruned since
        return None


class SourceSnapshots:
    """The unpacked layers (top first) under the view a COPY --from reads (`root`): a file
    the copy writes as it is there (same size, mode, owner and time, no xattrs) is a file
    one of those snapshots holds, which the new snapshot links instead of writing again.
    Snapshots never change, so sharing an inode between two is safe, but not within one
    stack: a layer of the stack the copy lands on is never linked from."""

    def __init__(self, root: str, layers: list[tuple[str, str]]):
        self.root = root
        self.layers = layers  # (snapshot id, its directory), top first
        self._dirs: dict[tuple[str, str], bool] = {}  # (directory, path) -> a plain directory there

    def file_for(self, it: CopyItem, stack: set[str]) -> str | None:
        if it.type != REG or not it.source or it.xattrs or it.data is not None:
            return None
        rel = os.path.relpath(it.source, self.root)
        if rel.startswith("..") or os.path.isabs(rel):
            return None
        parent = os.path.dirname(rel)
        for sid, top in self.layers:
            # the merged view shows the top-most layer holding the name (whiteouts and
            # opaque directories only hide what is below that); a symlink or a file on
            # the way in a layer is left alone, never followed on this machine
            if parent and not self._plain_dir(top, parent):
                if os.path.lexists(os.path.join(top, parent)):
                    return None
                continue
            try:
                st = os.lstat(os.path.join(top, rel))
            except FileNotFoundError:
                continue
            if sid in stack or not stat.S_ISREG(st.st_mode) or st.st_size != it.size or \
                    stat.S_IMODE(st.st_mode) != it.mode or (st.st_uid, st.st_gid) != (it.uid, it.gid) or \
                    int(st.st_mtime) != int(it.mtime) or os.listxattr(os.path.join(top, rel), follow_symlinks=False):
                return None
            return os.path.join(top, rel)
        return None

    def _plain_dir(self, top: str, path: str) -> bool:
        key = (top, path)
        if key not in self._dirs:
            head = os.path.dirname(path)
            self._dirs[key] = (not head or self._plain_dir(top, head)) and _is_dir(os.path.join(top, path))
        return self._dirs[key]


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def write(store, items: list[CopyItem], identity: str, stack: set[str], source: SourceSnapshots | None = None):
    """The layer (a blob) and its snapshot, written at the same time (tar writing and
    hashing, and file creation, each wait on the kernel much of the time); returns the
    layer. A file linked from the previous build's snapshot, or from `source`'s, is not
    written."""
    from distill.image.layers.apply import Applier
    from distill.image.layers.blob import layer_from

    previous = _previous(store, identity)
    # Without symlinks among the entries a name is one file, reached literally, written
    # last by its own entry: only then may an index vouch for what a path holds. A stack
    # must not see one inode under two names: never link from a snapshot in it.
    linkable = not any(it.type == SYMLINK for it in items)
    files = {it.name: _file_key(it) for it in items if it.type == REG and it.digest is not None}
    link_source = previous if (previous is not None and previous.linkable and linkable
                               and previous.sid not in stack) else None
    source = source if linkable else None

    def link_from(e: CopyItem) -> str | None:
        if link_source is not None and link_source.same_file(e.name, files.get(e.name)):
            return os.path.join(link_source.root, e.name)
        return source.file_for(e, stack) if source is not None else None

    starts: dict[str, int] = {}
    tmp = temp_dir(store.tmp_dir, "copy-")
    try:
        tree, index_file = os.path.join(tmp, "fs"), os.path.join(tmp, "fs.files")
        applier = Applier(tree, whiteouts="overlay", link_from=link_from if link_source or source else None,
                          fresh=True)
        applied = Worker(applier.apply_entries, items).start()
        try:
            splice = _splice(store, previous, files)
            try:
                rows: list = []
                layer = layer_from(store, lambda sink: starts.update(write_tar(items, sink, splice, rows)), rows=rows)
            finally:
                if splice is not None:
                    splice.close()
        finally:
            applied.wait()  # done with tmp/ before it may go
        applied.result()
        sid = snapshot_id(layer.diff_id)
        plain = layer.descriptor["digest"] == layer.diff_id
        entries = {name: [start, *files.get(name, ())] for name, start in starts.items()}
        index = {"blob": layer.diff_id if plain else None, "entries": entries, "linkable": linkable}
        write_text(index_file, json.dumps(index, separators=(",", ":")))
        if adopt(store, layer.diff_id, tree, extra={".files": index_file}):
            write_text(_last_path(store, identity), sid)
    finally:
        remove_tree(tmp)
    return layer
