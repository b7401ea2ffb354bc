"""Each layer is unpacked once into the store (ROOT/snapshots/<id>), in overlay form
(whiteouts as 0/0 devices, opaque xattrs), and shared by every build and run."""

from __future__ import annotations

import os

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.errors import VerificationError
from distill.fs.files import list_dir, read_text, unlink
from distill.fs.atomic import remove_tree, temp_dir
from distill.fs.lock import locked

# Short directory names keep overlayfs mount options (a page at most) small enough for
# deep images: 16 hex digits per layer.
ID_LEN = 16


def snapshot_id(diff_id: str) -> str:
    return digests.split(diff_id)[1][:ID_LEN]


def snapshots_dir(store) -> str:
    d = store.path("snapshots")
    os.makedirs(d, exist_ok=True)
    return d


def snapshot_path(store, diff_id: str) -> str:
    """Where this layer's snapshot is (or will be)."""
    return os.path.join(snapshots_dir(store), snapshot_id(diff_id))


def is_unpacked(store, diff_id: str) -> bool:
    """Whether the store holds this layer's snapshot, complete (no unpack needed)."""
    return is_complete(snapshot_path(store, diff_id))


# A snapshot's marker (<id>.complete) says whether its tree can be trusted: "synced" once
# it is on disk; the boot it was made in until then (nothing is synced as it is written:
# a crash may tear what the kernel had not written back, and the next boot unpacks it
# again from its layer); anything else (torn, empty, another boot) is not a snapshot.
SYNCED = "synced"
_SYNC_AGE = 60.0  # seconds: the kernel writes back dirty data after 30


def is_complete(tree: str) -> bool:
    """Whether the snapshot tree `tree` is whole (its marker is one this boot trusts)."""
    from distill.fs import boot_id

    try:
        with open(tree + ".complete", encoding="ascii") as f:
            mark = f.read(64)
    except (OSError, ValueError):
        return False
    return mark == SYNCED or (mark != "" and mark == boot_id())


def _mark_complete(tree: str) -> None:
    from distill.fs import boot_id
    from distill.fs.atomic import write_file

    # where the boot cannot be known, a crash cannot be told from a restart: trusted, as before
    write_file(tree + ".complete", (boot_id() or SYNCED).encode(), durable=False)


def confirm_snapshots(store, age: float = _SYNC_AGE) -> int:
    """The snapshots made in this boot more than `age` seconds ago are synced (one syncfs:
    by then the kernel has written most of them back) and marked so. Returns how many."""
    import time

    from distill.fs import boot_id
    from distill.fs.atomic import write_file
    from distill.fs.syscalls import syncfs

    base, boot, now = snapshots_dir(store), boot_id(), time.time()
    due = []
    for name in list_dir(base):
        path = os.path.join(base, name)
        try:
            st = os.stat(path)
            if name.endswith(".complete") and st.st_size == len(boot) and now - st.st_mtime >= age \
                    and read_text(path) == boot:
                due.append(path)
        except (OSError, ValueError):
            pass
    if not boot or not due or syncfs(base) != 0:
        return 0
    for path in due:
        write_file(path, SYNCED.encode(), durable=False)  # a torn one is not trusted: made again
    return len(due)


def unpacked(store, descriptor: dict, diff_id: str) -> str:
    """The directory holding this layer's tree, unpacking it on first use (diffID verified)."""
    final = snapshot_path(store, diff_id)
    if is_unpacked(store, diff_id):
        return final
    with locked(_lock_of(store, diff_id)):
        if not is_unpacked(store, diff_id):
            with store.open_blob(descriptor["digest"]) as f:
                _unpack(store, descriptor, diff_id, f)
    return final


def _lock_of(store, diff_id: str) -> str:
    return store.path("locks", f"unpack-{snapshot_id(diff_id)}.lock")


def _unpack(store, descriptor: dict, diff_id: str, blob) -> None:
    """The layer read from `blob` (its stored form) becomes its snapshot, or nothing does
    (a content other than its diffID, a layer the applier refuses). Under its lock."""
    from distill.image.layers import toc  # only when unpacking: a rebuild seldom does
    from distill.image.layers.apply import Applier
    from distill.image.layers.compress import HashingReader, decompressed
    from distill.image.layers.tarstream import TarReader

    sid = snapshot_id(diff_id)
    final = snapshot_path(store, diff_id)
    tmp = temp_dir(store.tmp_dir, f"unpack-{sid}-")
    rows: list | None = [] if not os.path.exists(toc.toc_path(store, diff_id)) else None

    def entries():
        """The entries, each one's table of contents row kept on the way: the unpack reads
        them all, so the table costs no pass of its own (a 550 MB base's is ~1 s)."""
        nonlocal rows
        for e in TarReader(reader):
            if rows is not None and len(rows) >= toc.MAX_ENTRIES:
                rows = None  # past a table's bound: the unpack goes on, no table is kept
            if rows is not None:
                rows.append(toc.row_of(e))
            yield e

    plain = decompressed(blob, mediatypes.compression(descriptor["mediaType"]), threaded=True)
    try:
        reader = HashingReader(plain)
        # a new empty directory: a name is looked at only when creating it fails
        Applier(os.path.join(tmp, "fs"), whiteouts="overlay", fresh=True).apply_entries(entries())
        reader.drain()
        if reader.digest != diff_id:
            raise VerificationError(f"layer {descriptor['digest']}: content has diffID {reader.digest}, "
                                    f"image says {diff_id}")
        if os.path.exists(final):  # left by an interrupted unpack
            remove_tree(final)
        os.rename(os.path.join(tmp, "fs"), final)
        _mark_complete(final)
        if rows is not None:
            toc.keep(store, diff_id, rows, reader.size)
        else:
            store.remember_layer(diff_id, size=reader.size)
    finally:
        plain.close()  # a threaded decompressor's thread ends with it
        remove_tree(tmp)


class UnpackWhileArriving:
    """A layer unpacked from its bytes as a pull receives them, so that the download, the
    decompression and the unpack overlap instead of following one another: write() each
    chunk as it is stored, finish() when the transfer ends. Anything wrong (a transfer
    cut short, content other than its diffID, an entry the applier refuses) leaves no
    snapshot: the step that needs one unpacks the stored blob then and says what is wrong."""

    _PIPE = 1 << 20  # a pipe's buffer: the download waits on the unpack in 1 MiB steps, not 64 KiB

    def __init__(self, store, descriptor: dict, diff_id: str):
        import threading

        r, self._w = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(self._w, fcntl.F_SETPIPE_SZ, self._PIPE)
        except OSError:
            pass  # past /proc/sys/fs/pipe-max-size: the default buffer only slows it
        self._thread = threading.Thread(target=self._run, args=(store, descriptor, diff_id, r), daemon=True)
        self._thread.start()

    def _run(self, store, descriptor: dict, diff_id: str, r: int) -> None:
        with os.fdopen(r, "rb") as blob:
            try:
                with locked(_lock_of(store, diff_id)):
                    if not is_unpacked(store, diff_id):
                        _unpack(store, descriptor, diff_id, blob)
            except Exception:  # told later, by the unpack from the stored blob
                pass

    def write(self, chunk) -> None:
        view = memoryview(chunk)
        while view and self._w is not None:
            try:
                view = view[os.write(self._w, view):]
            except BrokenPipeError:  # the unpack has ended (done, or failed): the pull goes on
                self._close()

    def finish(self) -> None:
        """The transfer ended (whole or not): waits for the unpack to end."""
        self._close()
        self._thread.join()

    def _close(self) -> None:
        if self._w is not None:
            os.close(self._w)
            self._w = None


def adopt(store, diff_id: str, tree: str, extra: dict[str, str] | None = None) -> bool:
    """Make `tree` (already in overlay form) the snapshot of layer `diff_id`, with `extra`
    files beside it (suffix → file). False when the snapshot existed: the content is the
    same, and `tree` is left to the caller."""
    final = snapshot_path(store, diff_id)
    with locked(_lock_of(store, diff_id)):  # the lock unpacked() takes
        if is_complete(final):
            return False
        try:
            for suffix, path in (extra or {}).items():
                os.replace(path, final + suffix)
            if os.path.exists(final):  # left by an interrupted unpack
                remove_tree(final)
            os.rename(tree, final)
        except OSError:
            return False
        _mark_complete(final)
        return True


def empty_dir(store) -> str:
    d = os.path.join(snapshots_dir(store), "empty")
    os.makedirs(d, exist_ok=True)
    return d


def prune_snapshots(store, wanted_diff_ids: set[str]) -> int:
    """Remove unpacked layers no kept image or cache record uses. Returns how many."""
    base = snapshots_dir(store)
    keep = {snapshot_id(d) for d in wanted_diff_ids} | {"empty", "last"}
    removed = 0
    for name in os.listdir(base):
        p = os.path.join(base, name)
        sid = name.removesuffix(".complete").removesuffix(".files")
        if sid in keep:
            continue
        tree = os.path.join(base, sid)
        if os.path.isdir(p) and not os.path.islink(p):
            unlink(tree + ".complete")  # first: never a marker without its tree
            remove_tree(p)
            unlink(tree + ".files")
            removed += 1
        elif name.endswith((".complete", ".files")) and not os.path.exists(tree):
            unlink(p)
    for record in list_dir(os.path.join(base, "last")):
        try:
            if not is_complete(os.path.join(base, read_text(record).strip())):
                os.unlink(record)
        except OSError:
            pass
    return removed
