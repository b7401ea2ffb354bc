"""The image store: an OCI image layout (image-spec 1.1) on disk.

    ROOT/oci-layout, ROOT/index.json      the layout itself; tags are index entries
                                          annotated with org.opencontainers.image.ref.name
    ROOT/blobs/<alg>/<hex>                verified, immutable content
    ROOT/tmp/                             blobs being written (same filesystem: rename is atomic)
    ROOT/locks/                           index.lock (index updates), gc.lock (writers vs prune)
    ROOT/layers/<hex>.json                what is known of a layer by its diffID: its
                                          uncompressed size, the digest of its gzip form
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from collections.abc import Iterator

from distill import digest as digests
from distill.image.oci.mediatypes import INDEXES, MANIFESTS
from distill.errors import DistillError, NotFound, VerificationError
from distill.fs.files import list_dir, read_bytes, read_text, unlink
from distill.fs.atomic import fsync_dir, remove_tree, temp_file, write_file
from distill.fs.lock import locked
from distill.image.store.records import is_artifact, members, orphans

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms of a start
if TYPE_CHECKING:
    from typing import BinaryIO

_SYNC_EVERY = 64 << 20  # bytes of a blob between background fsyncs
_LEDGER_LINES = 4096    # blobs committed between counts before the ledger is counted afresh


def _fdatasync_quietly(fd: int) -> None:
    try:
        os.fdatasync(fd)
    except OSError:
        pass  # the fsync at commit meets it again and reports it

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
CHUNK = 1 << 20
# Manifests and configs are read into memory; anything bigger is not one.
JSON_BLOB_MAX = 64 << 20


def default_root() -> str:
    env = os.environ.get("DISTILL_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/distill"
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data, "distill")


class BlobWriter:
    """Receives a blob's bytes, hashing as it goes; `commit` verifies and publishes it."""

    def __init__(self, store: "Store", expected_digest: str | None, expected_size: int | None):
        self.store = store
        self.expected_digest = digests.validate(expected_digest) if expected_digest else None
        self.expected_size = expected_size
        self._hash = digests.hasher(expected_digest)
        self.size = 0
        fd, self._tmp = temp_file(store.tmp_dir, "blob-")
        self._file = os.fdopen(fd, "wb")
        self.digest: str | None = None
        self._next_sync = _SYNC_EVERY
        self._syncing = None  # a threading.Thread while a background fsync runs

    def write(self, data) -> int:
        n = len(data)
        self.size += n
        if self.expected_size is not None and self.size > self.expected_size:
            raise VerificationError(
                f"blob {self.expected_digest or ''} is larger than its declared size {self.expected_size}"
            )
        self._hash.update(data)
        self._file.write(data)
        if self.size >= self._next_sync:
            self._sync_behind()
        return n

    def _sync_behind(self) -> None:
        """Start putting what is written so far on disk while writing goes on, so the fsync
        at commit has only the tail left (the kernel would otherwise hold a big blob in
        memory until then). One at a time; a fsync in a thread blocks only that thread."""
        self._next_sync = self.size + _SYNC_EVERY
        if self._syncing is not None and self._syncing.is_alive():
            return
        self._file.flush()
        import threading  # a reader of the store never writes a blob

        self._syncing = threading.Thread(target=_fdatasync_quietly, args=(self._file.fileno(),), daemon=True)
        self._syncing.start()

    def _synced_behind(self) -> None:
        if self._syncing is not None:
            self._syncing.join()  # before the fd can be closed
            self._syncing = None

    def commit(self) -> str:
        self._file.flush()
        self._synced_behind()
        os.fsync(self._file.fileno())
        self._file.close()
        actual = f"{self._hash.name}:{self._hash.hexdigest()}"
        if self.expected_size is not None and self.size != self.expected_size:
            raise VerificationError(
                f"blob {self.expected_digest or actual}: got {self.size} bytes, expected {self.expected_size}"
            )
        if self.expected_digest and actual != self.expected_digest:
            raise VerificationError(f"blob digest mismatch: expected {self.expected_digest}, got {actual}")
        final = self.store.blob_path(actual)
        parent = os.path.dirname(final)
        os.makedirs(parent, exist_ok=True)
        os.chmod(self._tmp, 0o644)
        self.store._ledger_add(self.size)  # before: a crash may overcount, never undercount
        os.replace(self._tmp, final)
        fsync_dir(parent)
        self.digest = actual
        return actual

    def abort(self) -> None:
        self._synced_behind()
        if not self._file.closed:
            self._file.close()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.digest is None:
                self.commit()
        self.abort()  # no-op after a commit: the temp name is gone


class Store:
    def __init__(self, root=None):
        self.root = os.fspath(root) if root else default_root()
        self.blobs_dir = self.path("blobs")
        self.tmp_dir = self.path("tmp")
        self.locks_dir = self.path("locks")
        # The blob ledger: the bytes of the blobs no image reached when last counted, then
        # a line per blob committed and per image dropped since. Counted (rewritten) only
        # under the exclusive GC lock.
        self.ledger = self.path("blobs.ledger")
        self._index_memo: tuple[bytes | None, dict] | None = None
        self._ensure_layout()

    def path(self, *names: str) -> str:
        """A path under the store's root."""
        return os.path.join(self.root, *names)

    # ---- layout -------------------------------------------------------------
    def _ensure_layout(self) -> None:
        try:
            for d in (self.root, self.blobs_dir, self.tmp_dir, self.locks_dir):
                os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise DistillError(f"cannot use store at {self.root}: {e.strerror}") from None
        if not os.path.exists(self.path("oci-layout")):
            write_file(self.path("oci-layout"), json.dumps(LAYOUT_VERSION).encode())
        if not os.path.exists(self.path("index.json")):
            with self._index_lock():
                if not os.path.exists(self.path("index.json")):
                    self._write_index({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})

    # ---- blobs --------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        algorithm, hexpart = digests.split(digest)
        return os.path.join(self.blobs_dir, algorithm, hexpart)

    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self.blob_path(digest))

    def blob_size(self, digest: str) -> int:
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not in store") from None

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not in store") from None

    def read_blob(self, digest: str, limit: int = JSON_BLOB_MAX) -> bytes:
        with self.open_blob(digest) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise VerificationError(f"blob {digest} is larger than {limit} bytes")
        return data

    def read_json(self, digest: str) -> dict:
        from distill.documents import parse_object

        return parse_object(self.read_blob(digest), f"blob {digest}")

    def writer(self, expected_digest: str | None = None, expected_size: int | None = None) -> BlobWriter:
        return BlobWriter(self, expected_digest, expected_size)

    def write_blob(self, data: bytes, expected_digest: str | None = None) -> str:
        known = expected_digest or digests.of_bytes(data)
        if self.has_blob(known):
            return known  # content-addressed: present means identical, so nothing is written
        with self.writer(expected_digest, len(data) if expected_digest else None) as w:
            w.write(data)
            return w.commit()

    def ingest(self, stream: BinaryIO, expected_digest: str | None = None, expected_size: int | None = None) -> str:
        with self.writer(expected_digest, expected_size) as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit()

    def iter_blobs(self) -> Iterator[str]:
        for algorithm in sorted(os.listdir(self.blobs_dir)):
            algdir = os.path.join(self.blobs_dir, algorithm)
            if not os.path.isdir(algdir):
                continue
            for name in sorted(os.listdir(algdir)):
                d = f"{algorithm}:{name}"
                if digests.is_valid(d):
                    yield d

    # ---- layer facts --------------------------------------------------------
    def _facts_path(self, diff_id: str) -> str:
        return self.path("layers", f"{digests.split(diff_id)[1]}.json")

    def layer_facts(self, diff_id: str) -> dict:
        """What was learnt of a layer (by diffID) when it was made, unpacked or pushed:
        `size` (uncompressed bytes), `gzip` (the descriptor of its gzip form). A cache:
        anything missing is found again by reading the layer."""
        try:
            doc = json.loads(read_bytes(self._facts_path(diff_id)))
        except (FileNotFoundError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def remember_layer(self, diff_id: str, **facts) -> None:
        path = self._facts_path(diff_id)
        doc = self.layer_facts(diff_id)
        if all(doc.get(k) == v for k, v in facts.items()):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # not durable: losing a fact only means measuring again
        write_file(path, json.dumps({**doc, **facts}, sort_keys=True).encode(), durable=False)

    # ---- index and tags -----------------------------------------------------
    def _index_lock(self):
        return locked(self.path("locks", "index.lock"))

    def writing(self):
        """Held (shared) by anything that adds blobs not yet reachable from a tag, so
        `prune` (exclusive) never collects them mid-flight."""
        return locked(self.path("locks", "gc.lock"), shared=True)

    def _index_bytes(self) -> bytes | None:
        try:
            return read_bytes(self.path("index.json"))
        except FileNotFoundError:
            return None

    def _parse_index(self, raw: bytes | None) -> dict:
        if raw is None:
            return {"schemaVersion": 2, "manifests": []}
        try:
            index = json.loads(raw)
        except ValueError:
            raise DistillError(f"{self.root}/index.json is not valid JSON") from None
        index.setdefault("manifests", [])
        return index

    def read_index(self) -> dict:
        """index.json parsed afresh, for the caller to change."""
        return self._parse_index(self._index_bytes())

    def _index(self) -> dict:
        """index.json to read only, parsed again only when its bytes change: a build looks
        images up in it several times, and it grows with every unnamed image kept."""
        raw = self._index_bytes()
        memo = self._index_memo
        if memo is None or memo[0] != raw:
            memo = self._index_memo = (raw, self._parse_index(raw))
        return memo[1]

    def _write_index(self, index: dict) -> None:
        # compact: the C encoder; indented, json falls back to Python (~10 ms for 300 images)
        write_file(self.path("index.json"), json.dumps(index, separators=(",", ":"), sort_keys=True).encode())

    @contextmanager
    def editing_index(self):
        """index.json to change in place, under its lock; written when the block ends. An
        artifact about an image (a build record) leaves with the image."""
        with self._index_lock():
            index = self.read_index()
            before = list(index["manifests"])
            yield index
            gone = orphans(index["manifests"], lambda d: members(self.read_json, d))
            if gone:
                index["manifests"] = [d for d in index["manifests"] if d not in gone]
            self._write_index(index)
        # what an image no longer reaches may now be the cache's alone: counted (at most)
        kept = {d.get("digest") for d in index["manifests"]}
        dropped = [d for d in before if d.get("digest") not in kept]
        if dropped and os.path.exists(self.ledger):
            self._ledger_add(self._bytes_of(self.reachable(dropped)))

    def _bytes_of(self, blobs) -> int:
        """What the blobs of `blobs` present in the store take."""
        total = 0
        for d in blobs:
            try:
                total += self.blob_size(d)
            except NotFound:
                pass
        return total

    def entries(self) -> list[dict]:
        """index.json's entries (images, named or not, and artifacts about them), to read only."""
        return self._index()["manifests"]

    def tags(self) -> list[tuple[str, dict]]:
        """(name, descriptor) for every named entry of the index, in index order."""
        out = []
        for desc in self._index()["manifests"]:
            name = (desc.get("annotations") or {}).get(REF_NAME)
            if name:
                out.append((name, desc))
        return out

    def get_tag(self, name: str) -> dict | None:
        for n, desc in self.tags():
            if n == name:
                return desc
        return None

    def set_tag(self, name: str, descriptor: dict) -> None:
        digests.validate(descriptor["digest"])
        if not self.has_blob(descriptor["digest"]):
            raise NotFound(f"cannot tag {name}: manifest {descriptor['digest']} not in store")
        entry = {k: v for k, v in descriptor.items() if k in ("mediaType", "digest", "size", "platform")}
        entry["annotations"] = {**(descriptor.get("annotations") or {}), REF_NAME: name}
        with self.editing_index() as index:
            # the name moves here; an unnamed entry of the same image is now redundant
            index["manifests"] = [d for d in index["manifests"]
                                  if (d.get("annotations") or {}).get(REF_NAME) not in (name, None)
                                  or ((d.get("annotations") or {}).get(REF_NAME) is None and d["digest"] != entry["digest"])]
            index["manifests"].append(entry)

    def add_untagged(self, descriptor: dict) -> None:
        """Record an image that has no name (docker's dangling image), so its ID finds it."""
        digests.validate(descriptor["digest"])
        if any(d["digest"] == descriptor["digest"] for d in self._index()["manifests"]):
            return
        with self.editing_index() as index:
            if not any(d["digest"] == descriptor["digest"] for d in index["manifests"]):
                index["manifests"].append({k: v for k, v in descriptor.items() if k in ("mediaType", "digest", "size")})

    def untagged(self) -> list[dict]:
        """Images without a name (not the artifacts about images: store/records.py)."""
        return [d for d in self._index()["manifests"]
                if not (d.get("annotations") or {}).get(REF_NAME) and not is_artifact(d)]

    def remove_untagged(self, digest: str) -> None:
        with self.editing_index() as index:
            index["manifests"] = [d for d in index["manifests"]
                                  if d["digest"] != digest or (d.get("annotations") or {}).get(REF_NAME)]

    def remove_tag(self, name: str) -> dict:
        with self.editing_index() as index:
            keep, removed = [], None
            for d in index["manifests"]:
                if (d.get("annotations") or {}).get(REF_NAME) == name:
                    removed = d
                else:
                    keep.append(d)
            if removed is None:
                raise NotFound(f"no such image: {name}")
            index["manifests"] = keep
        return removed

    # ---- garbage collection -------------------------------------------------
    def reachable(self, descriptors: list[dict] | None = None) -> set[str]:
        """Every blob reachable from `descriptors` (by default the index's entries):
        indexes, manifests, configs, layers. Only indexes and manifests are read; layers
        are never opened."""
        seen: set[str] = set()
        todo = list(self._index()["manifests"] if descriptors is None else descriptors)
        while todo:
            desc = todo.pop()
            d = desc.get("digest") if isinstance(desc, dict) else None
            if not d or d in seen or not digests.is_valid(d):
                continue
            seen.add(d)
            if desc.get("mediaType") not in INDEXES | MANIFESTS or not self.has_blob(d):
                continue
            try:
                doc = self.read_json(d)
            except VerificationError:
                continue
            children = list(doc.get("manifests") or []) + list(doc.get("layers") or [])
            children += [doc[k] for k in ("config", "subject") if isinstance(doc.get(k), dict)]
            todo.extend(c for c in children if isinstance(c, dict))
        return seen

    def prune(self, keep_blobs=lambda reachable: (), also=None, release=lambda paths: None) -> tuple[int, int]:
        """Remove unnamed images and the artifacts about images no longer here, then blobs no name (nor `keep_blobs(reachable)`, given
        what the names reach) reaches, and stale temp files (`release(paths)` first stops what
        killed builds left running or mounted there); then call `also()`. Both are
        called under the lock no writer holds meanwhile, so what they read cannot change
        under them (a build that finished while prune waited is seen). Returns (count,
        bytes) of blobs removed."""
        with locked(self.path("locks", "gc.lock")):
            with self.editing_index() as index:
                index["manifests"] = [d for d in index["manifests"]
                                      if (d.get("annotations") or {}).get(REF_NAME) or is_artifact(d)]
            count, size = self._delete_blobs_except(keep_blobs)
            left = list_dir(self.tmp_dir)
            release(left)
            for p in left:
                if os.path.isdir(p) and not os.path.islink(p):
                    remove_tree(p)
                else:
                    unlink(p)
            if also is not None:
                also()
            return count, size

    def collect(self, keep_blobs, also=None) -> tuple[int, int] | None:
        """prune's gentler form, run after builds: blobs no index entry (named or not) nor
        `keep_blobs(reachable)` reaches go, then `also()`; unnamed images and temp files stay. Only
        when the store is free at once: None when another process holds it."""
        try:
            with locked(self.path("locks", "gc.lock"), wait=False):
                count, size = self._delete_blobs_except(keep_blobs)
                if also is not None:
                    also()
                return count, size
        except BlockingIOError:
            return None

    def _delete_blobs_except(self, keep_blobs) -> tuple[int, int]:
        """Under the exclusive GC lock (no blob is being committed meanwhile): delete, and
        count what stays and no image reaches into a fresh ledger."""
        reachable = self.reachable()
        keep = reachable | set(keep_blobs(reachable))
        count = size = unreached = 0
        for d in list(self.iter_blobs()):
            p = self.blob_path(d)
            n = os.stat(p).st_size
            if d in keep:
                unreached += 0 if d in reachable else n
            else:
                os.unlink(p)
                size += n
                count += 1
        write_file(self.ledger, b"%d\n" % unreached, durable=False)
        return count, size

    def unreached_bytes_bound(self) -> int | None:
        """At least what the blobs no image reaches take (the build cache's own layers, and
        blobs nothing holds), from the ledger: the count at the last collection, then every
        blob committed and every image dropped since. No directory scan: a `stat` per blob
        after every build adds up in a big store; and images are left out, so a store whose
        images alone pass a cache limit is not collected after every build. None when it is
        to be counted afresh: before the first count, or once it has grown long."""
        try:
            sizes = read_text(self.ledger).split()
            return sum(int(n) for n in sizes) if len(sizes) <= _LEDGER_LINES else None
        except (OSError, ValueError):
            return None

    def _ledger_add(self, size: int) -> None:
        try:
            fd = os.open(self.ledger, os.O_WRONLY | os.O_APPEND)  # never created here
        except FileNotFoundError:
            return
        try:
            os.write(fd, b"%d\n" % size)
        finally:
            os.close(fd)
