"""Apply a layer tar to a directory without ever touching anything outside it.

Every path is resolved component by component from a file descriptor of the root with
O_NOFOLLOW; a symlink met as a parent is followed *inside* the root (an absolute target
means the root's own `/`, as it would in the container), and one that climbs above the
root is refused. The final component is never followed: it is replaced, not written
through. Names with `..`, absolute names, whiteouts naming `.`/`..` and an entry that would
replace the root are refused with an UnsafeLayer error.

Whiteouts: mode "delete" removes what they name (for flattening into a plain tree);
mode "overlay" records them as overlayfs does (0/0 char device, opaque xattr) so the
directory can serve as an overlay lower dir.
"""

from __future__ import annotations

import errno
import os
import stat

from distill.errors import UnsafeLayer
from distill.record import Record
from distill.image.layers.create import OPAQUE, WHITEOUT_PREFIX
from distill.image.layers.tarstream import BLK, CHR, DIR, FIFO, HARDLINK, REG, SYMLINK, Entry, TarReader, split_name
from distill.fs import in_user_namespace
from distill.image.layers import opaque_xattr

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms of a start
if TYPE_CHECKING:
    from typing import BinaryIO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_SYMLINK_HOPS = 40
_WRITE_CHUNK = 1 << 20
# Layers may not plant overlayfs control xattrs in what becomes a lower dir.
_REFUSED_XATTRS = ("trusted.overlay.", "user.overlay.")


class ApplyStats(Record, frozen=False):
    entries: int = 0
    bytes: int = 0


def whiteout_victim(name: str, base: str) -> str | None:
    """The name a whiteout entry (`base`, not the opaque marker) hides; None for other aufs
    metadata (.wh..wh.plnk and friends), meaningless here. `.`, `..` and nothing are refused."""
    if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
        return None
    victim = base[len(WHITEOUT_PREFIX):]
    if victim in ("", ".", ".."):
        raise UnsafeLayer(f"layer whiteout {name!r} names {victim or 'nothing'!r}")
    return victim


class Missing(UnsafeLayer):
    """A parent named by an entry does not exist (and was not to be created)."""


class _Root:
    """Descriptor-relative access to a tree, confined to it. With `clamp`, a symlink's `..`
    at the root stays at the root (as inside a container); without, it is refused."""

    def __init__(self, path: str, clamp: bool = False):
        os.makedirs(path, exist_ok=True)
        self.fd = os.open(path, _DIR_FLAGS)
        self.clamp = clamp

    def close(self) -> None:
        os.close(self.fd)

    def open_dir(self, comps: list[str], create: bool, name_for_errors: str) -> int:
        """An fd of the directory `comps` names, following symlinks inside the root only."""
        return self.open_from(os.dup(self.fd), [], comps, create, name_for_errors)[0]

    def open_from(self, fd: int, resolved: list[str], comps: list[str], create: bool,
                  name_for_errors: str) -> tuple[int, list[str]]:
        """open_dir from a directory already open (`fd`, owned by this call, whose real path
        in the root is `resolved`): the new fd and its real path."""
        resolved = list(resolved)
        todo = list(comps)
        hops = 0
        try:
            while todo:
                part = todo.pop(0)
                if part in ("", "."):
                    continue
                if part == "..":
                    if not resolved:
                        if self.clamp:
                            continue
                        raise UnsafeLayer(f"layer entry {name_for_errors!r}: a symlink on its path points outside the root")
                    resolved.pop()
                    os.close(fd)
                    fd = self._walk_real(resolved)
                    continue
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise Missing(f"layer entry {name_for_errors!r}: {'/'.join(resolved + [part])} does not exist") from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise UnsafeLayer(f"layer entry {name_for_errors!r}: {'/'.join(resolved + [part])} is not a directory") from None
                    hops += 1
                    if hops > _MAX_SYMLINK_HOPS:
                        raise UnsafeLayer(f"layer entry {name_for_errors!r}: too many levels of symbolic links") from None
                    target = os.readlink(part, dir_fd=fd)
                    if target.startswith("/"):
                        resolved = []
                        os.close(fd)
                        fd = os.dup(self.fd)
                    todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                    continue
                os.close(fd)
                fd = nfd
                resolved.append(part)
            return fd, resolved
        except BaseException:
            os.close(fd)
            raise

    def _walk_real(self, comps: list[str]) -> int:
        fd = os.dup(self.fd)
        for part in comps:
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            finally:
                os.close(fd)
            fd = nfd
        return fd


def _lstat(name: str, dir_fd: int):
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(name: str, dir_fd: int) -> None:
    st = _lstat(name, dir_fd)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil  # here: most layers replace no directory

        shutil.rmtree(name, dir_fd=dir_fd)  # fd-based, does not follow symlinks
    else:
        os.unlink(name, dir_fd=dir_fd)


class _Ancestors:
    """The open directories of the path entries are going into, so the next entry resolves
    only the components its path does not share with the last one (a tar lists a tree
    depth first): each component is opened once, not once per entry from the root. After
    anything is removed or replaced, paths are resolved afresh."""

    def __init__(self, root: _Root):
        self.root = root
        self.stack: list[tuple[tuple[str, ...], int, list[str]]] = []  # (names, fd, real path)
        self.stale = False

    def fd(self, comps: list[str], create: bool, name: str) -> int:
        """A borrowed fd of the directory `comps` names (the root's for none)."""
        if self.stale:
            self.clear()
        key = tuple(comps)
        keep = 0
        while keep < len(self.stack) and key[:len(self.stack[keep][0])] == self.stack[keep][0]:
            keep += 1
        for _, fd, _ in self.stack[keep:]:
            os.close(fd)
        del self.stack[keep:]
        if not key:
            return self.root.fd
        have, fd, resolved = self.stack[-1] if self.stack else ((), self.root.fd, [])
        for i in range(len(have), len(key)):
            fd, resolved = self.root.open_from(os.dup(fd), resolved, [key[i]], create, name)
            self.stack.append((key[:i + 1], fd, resolved))
        return fd

    def clear(self) -> None:
        for _, fd, _ in self.stack:
            os.close(fd)
        self.stack.clear()
        self.stale = False


class Applier:
    def __init__(self, root: str, whiteouts: str = "delete", same_owner: bool | None = None, clamp: bool = False,
                 link_from=None, fresh: bool = False):
        """`link_from(entry)` may name a file with the entry's very content and metadata
        to hard-link instead of writing (an immutable snapshot's). `fresh`: the root is a
        new empty directory, so a name is only looked at when creating it fails."""
        if whiteouts not in ("delete", "overlay"):
            raise ValueError(whiteouts)
        self.link_from = link_from
        self.fresh = fresh
        self.root = _Root(os.fspath(root), clamp)
        self.whiteouts = whiteouts
        self.same_owner = os.geteuid() == 0 if same_owner is None else same_owner
        self.created: set[str] = set()
        self.dir_times: list[tuple[list[str], float]] = []
        self.stats = ApplyStats()
        self.dirs = _Ancestors(self.root)

    def close(self) -> None:
        self.dirs.clear()
        self.root.close()

    def apply(self, stream: BinaryIO) -> ApplyStats:
        return self.apply_entries(TarReader(stream))

    def apply_entries(self, entries) -> ApplyStats:
        """Entries shaped like tarstream.Entry (name, type, mode, …, read())."""
        try:
            for entry in entries:
                self._entry(entry)
            self._set_dir_times()
        finally:
            self.close()
        return self.stats

    # ---- entries ------------------------------------------------------------
    def _entry(self, e: Entry) -> None:
        comps = split_name(e.name)
        if not comps:
            if e.type != DIR:
                raise UnsafeLayer(f"layer entry {e.name!r} would replace the root")
            return  # the root's own entry: its metadata is the caller's
        base = comps[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(e, comps)
            return
        parent = self._parent_fd(comps[:-1], e.name)
        if self.fresh and e.type not in (DIR, HARDLINK):
            try:
                self._create(e, comps, base, parent, look=False)
            except FileExistsError:  # the name came twice: replace, as always
                self._create(e, comps, base, parent)
        else:
            self._create(e, comps, base, parent)
        self.created.add("/".join(comps))
        self.stats.entries += 1

    def _parent_fd(self, comps: list[str], name: str) -> int:
        """The parent's fd (borrowed from self.dirs)."""
        return self.dirs.fd(comps, create=True, name=name)

    def _create(self, e: Entry, comps: list[str], base: str, parent: int, look: bool = True) -> None:
        existing = _lstat(base, parent) if look else None
        if existing is not None and (e.type != DIR or not stat.S_ISDIR(existing.st_mode)):
            # something is replaced: this entry still uses the fd, the next one resolves afresh
            self.dirs.stale = True
        if e.type == DIR:
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                os.unlink(base, dir_fd=parent)
                existing = None
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=parent)
            fd = os.open(base, _DIR_FLAGS, dir_fd=parent)
            try:
                self._metadata_fd(fd, e)
            finally:
                os.close(fd)
            self.dir_times.append((comps, e.mtime))
            return
        if e.type == HARDLINK:
            self._hardlink(e, base, parent, existing)
            return
        if existing is not None:
            _remove(base, parent)
        if e.type == REG:
            same = self.link_from(e) if self.link_from else None
            if same is not None:
                try:
                    os.link(same, base, dst_dir_fd=parent, follow_symlinks=False)
                    return
                except OSError:
                    pass  # gone meanwhile, or too many links: write it
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent)
            try:
                while chunk := e.read(_WRITE_CHUNK):
                    _write_all(fd, chunk)
                    self.stats.bytes += len(chunk)
                self._metadata_fd(fd, e)
                os.utime(fd, ns=_ns(e.mtime))
            finally:
                os.close(fd)
            return
        if e.type == SYMLINK:
            os.symlink(e.linkname, base, dir_fd=parent)
        elif e.type in (CHR, BLK):
            if not self.same_owner or in_user_namespace():
                # device nodes need root of the machine (a user namespace's root may make
                # only whiteouts): extraction without it skips them, as rootless BuildKit
                # and podman do; a container's /dev is a tmpfs of runc's anyway
                return
            kind = stat.S_IFCHR if e.type == CHR else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(e.devmajor, e.devminor), dir_fd=parent)
        elif e.type == FIFO:
            os.mkfifo(base, 0o600, dir_fd=parent)
        self._metadata_path(base, parent, e)

    def _hardlink(self, e: Entry, base: str, parent: int, existing) -> None:
        target = split_name(e.linkname, "hard link target")
        if not target:
            raise UnsafeLayer(f"layer entry {e.name!r}: hard link to the root")
        tparent = self.root.open_dir(target[:-1], create=False, name_for_errors=e.name)
        try:
            tst = _lstat(target[-1], tparent)
            if tst is None:
                raise UnsafeLayer(f"layer entry {e.name!r}: hard link target {e.linkname!r} does not exist")
            if stat.S_ISDIR(tst.st_mode):
                raise UnsafeLayer(f"layer entry {e.name!r}: hard link to a directory")
            if existing is not None:
                if existing.st_ino == tst.st_ino and existing.st_dev == tst.st_dev:
                    return
                _remove(base, parent)
            os.link(target[-1], base, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(tparent)

    # ---- whiteouts ----------------------------------------------------------
    def _whiteout(self, e: Entry, comps: list[str]) -> None:
        self.dirs.clear()
        base = comps[-1]
        if base == OPAQUE:
            self._opaque(e, comps[:-1])
            return
        victim = whiteout_victim(e.name, base)
        if victim is None:
            return
        try:
            parent = self.root.open_dir(comps[:-1], create=self.whiteouts == "overlay", name_for_errors=e.name)
        except Missing:
            return  # nothing below to hide
        try:
            _remove(victim, parent)
            if self.whiteouts == "overlay":
                os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
        finally:
            os.close(parent)
        self.stats.entries += 1

    def _opaque(self, e: Entry, dir_comps: list[str]) -> None:
        fd = self.root.open_dir(dir_comps, create=True, name_for_errors=e.name)
        try:
            if self.whiteouts == "overlay":
                os.setxattr(fd, opaque_xattr(), b"y")
                return
            prefix = "/".join(dir_comps)
            for child in os.listdir(fd):
                path = f"{prefix}/{child}" if prefix else child
                if path not in self.created:
                    _remove(child, fd)
        finally:
            os.close(fd)

    # ---- metadata -----------------------------------------------------------
    def _metadata_fd(self, fd: int, e: Entry) -> None:
        if self.same_owner:
            os.fchown(fd, e.uid, e.gid)
            for k, v in e.xattrs.items():
                if not k.startswith(_REFUSED_XATTRS):
                    try:
                        os.setxattr(fd, k, v)
                    except OSError:
                        pass  # a filesystem without that namespace: as docker, not fatal
        os.fchmod(fd, e.mode)  # after chown: chown clears setuid bits

    def _metadata_path(self, base: str, parent: int, e: Entry) -> None:
        # The entry was created just now by us and is not a directory: following the
        # final component is impossible for chmod only on symlinks, which have no mode.
        if self.same_owner:
            os.chown(base, e.uid, e.gid, dir_fd=parent, follow_symlinks=False)
        if e.type != SYMLINK:
            os.chmod(base, e.mode, dir_fd=parent)
        os.utime(base, ns=_ns(e.mtime), dir_fd=parent, follow_symlinks=False)

    def _set_dir_times(self) -> None:
        for comps, mtime in reversed(self.dir_times):
            try:
                fd = self.dirs.fd(comps, create=False, name="/".join(comps))
            except Missing:
                continue  # removed by a later entry
            os.utime(fd, ns=_ns(mtime))


# utimensat takes signed 64-bit nanoseconds; a hostile mtime must not overflow it.
_NS_MAX = (1 << 63) - 1


def _ns(mtime: float) -> tuple[int, int]:
    ns = max(0, min(int(mtime * 1e9), _NS_MAX)) if mtime == mtime else 0
    return ns, ns


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def apply_tar(stream: BinaryIO, root, whiteouts: str = "delete", same_owner: bool | None = None) -> ApplyStats:
    return Applier(os.fspath(root), whiteouts, same_owner).apply(stream)
