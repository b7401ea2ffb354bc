"""Where COPY reads from: the build context (filtered by .dockerignore, owners reset to 0,
digests stat-cached) or another stage's filesystem (owners kept)."""

from __future__ import annotations

import json
import operator
import os
import posixpath
import re
import stat
from collections import namedtuple

from distill.digest import Sha256
from distill.errors import DistillError
from distill.fs.files import read_bytes
from distill.fs.confined import OutsideRoot, resolve
from distill.build.context.ignore import Matcher

S_ISDIR, S_ISLNK = stat.S_ISDIR, stat.S_ISLNK

_GLOB = re.compile(r"[*?\[]")
_HASH_CHUNK = 1 << 20


def has_wildcard(pattern: str) -> bool:
    return _GLOB.search(pattern) is not None


class Entry(namedtuple("Entry", "source dest st linkname rel", defaults=("", ""))):
    """One thing to copy: `source` its host path, `dest` its path below the copy's
    destination ("" for the source itself), `st` its lstat, `linkname` a symlink's target,
    `rel` its path inside the source tree (the stat cache's key). A tuple, not a Record:
    a walk makes one per context file."""

    __slots__ = ()


# Entry(...) runs namedtuple's __new__ in Python (~0.9 µs here); the walk, once per
# context file, makes the tuple directly.
_new_entry = tuple.__new__


class StatCache:
    """(size, mtime, inode, mode) → content digest, so an unchanged context costs one stat
    per file. Kept per context directory in the store; written only when it changed.

    Above it, a memo from the stat facts of a whole selection to its content key: a no-op
    rebuild then neither reads the per-file table nor looks a file up in it."""

    _KEYS_KEPT = 256

    def __init__(self, path: str | None):
        """`path`: NAME.json, with NAME.keys.json beside it; None keeps nothing."""
        self.path = path
        self._keys_path = path.removesuffix(".json") + ".keys.json" if path else None
        self._entries: dict[str, list] | None = None  # rel → [stat key, digest]; read on first need
        self.keys: dict[str, str] = _read_json(self._keys_path) if path else {}
        self.dirty = self._keys_dirty = False

    @property
    def entries(self) -> dict[str, list]:
        if self._entries is None:
            self._entries = _read_json(self.path) if self.path else {}
        return self._entries

    def digest(self, rel: str, host: str, st: os.stat_result) -> str:
        key = stat_key(st)
        hit = self.entries.get(rel)
        if hit and hit[0] == key:
            return hit[1]
        h = Sha256()
        with open(host, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
        d = "sha256:" + h.hexdigest()
        self.entries[rel] = [key, d]
        self.dirty = True
        return d

    def remember_key(self, signature: str, content_key: str) -> None:
        self.keys.pop(signature, None)
        self.keys[signature] = content_key  # newest last; the oldest go first
        while len(self.keys) > self._KEYS_KEPT:
            del self.keys[next(iter(self.keys))]
        self._keys_dirty = True

    def save(self) -> None:
        if not self.path or not (self.dirty or self._keys_dirty):
            return
        from distill.fs.atomic import write_file

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if self.dirty:
            write_file(self.path, json.dumps(self.entries, separators=(",", ":")).encode(), durable=False)
        if self._keys_dirty:
            write_file(self._keys_path, json.dumps(self.keys).encode(), durable=False)
        self.dirty = self._keys_dirty = False


stat_facts = operator.attrgetter("st_size", "st_mtime_ns", "st_ino", "st_mode")
"""What the stat cache trusts: the same size, mtime, inode and mode mean the same content."""


def stat_key(st: os.stat_result) -> str:
    """stat_facts as one string: one compare per file."""
    return "%d:%d:%d:%d" % stat_facts(st)


def _read_json(path: str) -> dict:
    try:
        data = json.loads(read_bytes(path))
    except (ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


class SourceTree:
    def __init__(self, root: str, ignore: Matcher | None = None, is_context: bool = False,
                 stat_cache: StatCache | None = None):
        self.root = root
        self.ignore = ignore
        self.is_context = is_context
        self.cache = stat_cache or StatCache(None)
        self._walks: dict[tuple, list[Entry]] = {}

    def ignored(self, rel: str) -> bool:
        return bool(self.ignore and self.ignore.patterns and rel and self.ignore.ignored(rel))

    def resolve(self, rel: str, follow_final: bool = True) -> tuple[str, str]:
        """(host path, path relative to the root) of `rel`, symlinks followed inside the
        tree; a path that leaves the context is refused."""
        try:
            return resolve(self.root, rel, follow_final=follow_final, clamp=not self.is_context)
        except OutsideRoot as e:
            raise DistillError(f"forbidden path outside the build context: {rel} ({e})") from None

    def matches(self, pattern: str) -> list[str]:
        """Relative paths a COPY source names (wildcards per component), sorted."""
        clean = posixpath.normpath("/" + pattern).lstrip("/")
        if clean in ("", "."):
            return [""]
        if not has_wildcard(clean):
            host, rel = self.resolve(clean)
            if os.path.lexists(host) and not self.ignored(rel):
                return [clean]
            return []
        found = [""]
        for part in clean.split("/"):
            nxt = []
            for base in found:
                host, _ = self.resolve(base) if base else (self.root, "")
                if not has_wildcard(part):
                    cand = f"{base}/{part}" if base else part
                    if os.path.lexists(os.path.join(host, part)):
                        nxt.append(cand)
                    continue
                try:
                    names = sorted(os.listdir(host))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                import fnmatch  # only a wildcard needs it

                rx = re.compile(fnmatch.translate(part))
                for name in names:
                    if rx.match(name):
                        nxt.append(f"{base}/{name}" if base else name)
            found = nxt
        return [f for f in found if not self.ignored(self.resolve(f)[1])]

    def walk(self, rel: str, dest: str, exclude: Matcher | None = None) -> list[Entry]:
        """Entries for `rel` copied to `dest`: a directory's contents go into `dest`.
        Remembered, so the copy writes exactly what its cache key was computed from."""
        key = (rel, dest, exclude)  # the matcher itself: held here, its identity stays unique
        if key not in self._walks:
            self._walks[key] = self._walk(rel, dest, exclude)
        return self._walks[key]

    def _walk(self, rel: str, dest: str, exclude: Matcher | None) -> list[Entry]:
        host, real_rel = self.resolve(rel)
        st = os.lstat(host)
        if not stat.S_ISDIR(st.st_mode):
            return [self._entry(host, dest, st, real_rel)]
        out: list[Entry] = []
        self._walk_dir(host, real_rel, dest, exclude, out, "")
        return out

    def _walk_dir(self, host: str, rel: str, dest: str, exclude, out: list, sub: str) -> None:
        # string building rather than os.path calls, checks inlined: this loop runs once
        # per context file
        with os.scandir(host) as it:
            found = sorted((e.name, e.path, e.stat(follow_symlinks=False)) for e in it)  # names are unique
        prefix_rel = f"{rel}/" if rel else ""
        prefix_dest = f"{dest}/" if dest else ""
        prefix_sub = f"{sub}/" if sub else ""
        ignore = self.ignore if self.ignore and self.ignore.patterns else None
        for name, child_host, st in found:
            child_rel = prefix_rel + name
            child_dest = child_rel if prefix_dest == prefix_rel else prefix_dest + name
            child_sub = prefix_sub + name if exclude else ""
            mode = st.st_mode
            if (ignore and ignore.ignored(child_rel)) or (exclude and exclude.ignored(child_sub)):
                if S_ISDIR(mode) and ignore and ignore.may_reinclude_under(child_rel):
                    sub_out: list[Entry] = []
                    self._walk_dir(child_host, child_rel, child_dest, exclude, sub_out, child_sub)
                    if sub_out:
                        out.append(self._entry(child_host, child_dest, st, child_rel))
                        out.extend(sub_out)
                continue
            out.append(_new_entry(Entry, (child_host, child_dest, st,
                                          os.readlink(child_host) if S_ISLNK(mode) else "", child_rel)))
            if S_ISDIR(mode):
                self._walk_dir(child_host, child_rel, child_dest, exclude, out, child_sub)

    def _entry(self, host: str, dest: str, st: os.stat_result, rel: str) -> Entry:
        link = os.readlink(host) if stat.S_ISLNK(st.st_mode) else ""
        return Entry(host, dest, st, link, rel)

    def content_digest(self, e: Entry) -> str:
        if stat.S_ISREG(e.st.st_mode):
            return self.cache.digest(e.rel, e.source, e.st)
        return e.linkname
