"""Step records under ROOT/cache/steps/<key>.json. A record whose layer blob is gone is a
miss. Records are written atomically; a killed build leaves either a record or none. They
are not fsynced: after a power loss a record may be missing or unreadable, which is a
miss too, and the blobs a record names were fsynced before it was written."""

from __future__ import annotations

import json
import os

from distill.digest import Sha256
from distill.errors import DistillError
from distill.fs.files import list_dir, read_bytes, unlink
from distill.fs.atomic import write_file


def step_key(parent: str, kind: str, payload) -> str:
    """Chained: the parent's key, the step's kind and everything that decides its result."""
    blob = json.dumps([parent, kind, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()


def _json_files(directory: str) -> list[str]:
    return [p for p in list_dir(directory) if p.endswith(".json")]


class StepCache:
    """`remote` (cache/remote.py's RemoteCache), when given, answers what the store's own
    records do not; `shared` collects the memos a build used that another machine needs
    to compute the same keys (for --cache-to)."""

    def __init__(self, store, enabled: bool = True, remote=None):
        self.store = store
        self.enabled = enabled
        self.remote = remote if enabled else None
        self.dir = store.path("cache", "steps")
        os.makedirs(self.dir, exist_ok=True)
        self.memo_dir = store.path("cache", "memo")
        self.shared: dict[str, str] = {}

    def get(self, key: str) -> dict | None:
        if not self.enabled:
            return None
        try:
            record = json.loads(read_bytes(os.path.join(self.dir, f"{key}.json")))
        except (FileNotFoundError, ValueError):
            record = None
        if isinstance(record, dict):
            layer = record.get("layer")
            if not layer or self.store.has_blob(layer["digest"]):
                return record
        return self.remote.get(key) if self.remote is not None else None

    def get_memo(self, key: str, share: bool = False) -> str | None:
        """A memoized value that is a pure function of its key (used even with --no-cache);
        `share`: one a cache for other machines should carry."""
        try:
            value = json.loads(read_bytes(os.path.join(self.memo_dir, f"{key}.json")))["value"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            value = self.remote.memo(key) if self.remote is not None else None
        if share and isinstance(value, str):
            self.shared[key] = value
        return value

    def put_memo(self, key: str, value: str, share: bool = False) -> None:
        os.makedirs(self.memo_dir, exist_ok=True)
        write_file(os.path.join(self.memo_dir, f"{key}.json"), json.dumps({"value": value}).encode(), durable=False)
        if share:
            self.shared[key] = value

    def put(self, key: str, record: dict) -> None:
        path = os.path.join(self.dir, f"{key}.json")
        data = json.dumps(record, sort_keys=True).encode()
        try:
            if read_bytes(path) == data:
                return
        except FileNotFoundError:
            pass
        write_file(path, data, durable=False)

    def _records(self):
        for p in _json_files(self.dir):
            try:
                yield json.loads(read_bytes(p))
            except (ValueError, OSError):
                continue

    def trim(self, limit: int, free: set[str]) -> int:
        """Drop the oldest records until the layers only the cache holds fit in `limit`
        bytes, as `docker builder prune --keep-storage` does. Layers in `free` (an image
        reaches them) do not count, nor does a layer twice, nor one already gone (its
        record is a miss anyway). Returns records dropped."""
        def made(p):
            try:
                return os.stat(p).st_mtime_ns  # a record is written once, when its step ran
            except FileNotFoundError:
                return 0

        kept, counted, dropped = 0, set(), 0
        for p in sorted(_json_files(self.dir), key=made, reverse=True):
            try:
                layer = json.loads(read_bytes(p)).get("layer") or {}
            except (ValueError, OSError, AttributeError):
                continue
            digest = layer.get("digest")
            if not digest or digest in free or digest in counted:
                continue
            try:
                size = self.store.blob_size(digest)
            except DistillError:  # gone, or not a digest
                size = 0
            if kept + size > limit:
                unlink(p)
                dropped += 1
                continue
            counted.add(digest)
            kept += size
        return dropped

    def referenced_blobs(self) -> set[str]:
        return {r["layer"]["digest"] for r in self._records() if r.get("layer")}

    def referenced_diff_ids(self) -> set[str]:
        return {r["diff_id"] for r in self._records() if r.get("diff_id")}

    def clear(self) -> None:
        for p in _json_files(self.dir) + _json_files(self.memo_dir):
            os.unlink(p)
