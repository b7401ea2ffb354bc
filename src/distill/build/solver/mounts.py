"""RUN --mount: what each mount adds to the step's cache key, and the binds and tmpfs
mounts runc is given (cache directories, other stages, the context, secrets, SSH)."""

from __future__ import annotations

import os
import posixpath
import stat
from contextlib import ExitStack

from distill.digest import Sha256
from distill.errors import DistillError
from distill.fs.files import read_bytes
from distill.fs.confined import resolve
from distill.build.plan.steps import MountArgs
from distill.build.solver import copy as copying
from distill.build.solver.session import Session


def mount_keys(s: Session, mounts: tuple[MountArgs, ...]) -> list[dict]:
    """Each mount as it enters the RUN's key: a stage's by that stage's key, a bind of the
    context by the content it shows."""
    out = []
    for m in mounts:
        mk = m.to_json()
        if m.from_ is not None:
            mk["from"] = s.source_state(m.from_).key
        elif m.type == "bind" and s.context_tree:
            tree = s.context_tree
            mk["context"] = copying.content_key(tree, copying.select(tree, [m.source or "."], "RUN --mount"), None)
        out.append(mk)
    return out


def run_mounts(s: Session, stack: ExitStack, mounts: tuple[MountArgs, ...], workdir: str, env: dict):
    """(binds, tmpfs targets, every target) for runc; `env` gains what secret and SSH
    mounts set."""
    from distill.build.runtime.spec import BindMount

    binds, tmpfs, targets = [], [], []
    for m in mounts:
        kind = m.type
        target = m.target or (f"/run/secrets/{m.id}" if kind == "secret" else None)
        if target and not target.startswith("/"):
            target = posixpath.join(workdir, target)
        if kind == "tmpfs":
            tmpfs.append(target)
        elif kind == "cache":
            binds.append(BindMount(_cache_dir(s, stack, m, target), target, readonly=bool(m.readonly)))
        elif kind == "bind":
            src = m.source or ""
            if m.from_ is not None:
                om = stack.enter_context(s.mounted(s.source_state(m.from_)))
                host = resolve(om.merged, src)[0]
            else:
                if s.context_tree is None:
                    raise DistillError("RUN --mount type=bind needs a build context")
                view = s.scratch_dir(stack, "ctxview-")
                host = context_view(s.context_tree, src or ".", os.path.join(view, "v"), writable=m.readonly is False)
            binds.append(BindMount(host, target, readonly=m.readonly is not False))
        elif kind == "secret":
            sid = m.id or posixpath.basename(target)
            secret = s.o.secrets.get(sid)
            if secret is None:
                if m.required:
                    raise DistillError(f"secret {sid} is required but was not given (--secret id={sid},src=…)")
                continue
            data = read_bytes(secret["src"]) if "src" in secret else os.environb.get(secret["env"].encode(), b"")
            if m.env:
                env[m.env] = data.decode("utf-8", "replace")
            if m.target or not m.env:
                f = os.path.join(s.scratch_dir(stack, "secret-"), "s")
                with open(f, "wb") as out:
                    out.write(data)
                os.chmod(f, m.mode if m.mode is not None else 0o400)
                binds.append(BindMount(f, target))
        elif kind == "ssh":
            sid = m.id or "default"
            sock = s.o.ssh.get(sid)
            if not sock:
                if m.required:
                    raise DistillError(f"ssh agent {sid} is required but was not given (--ssh {sid})")
                continue
            target = m.target or f"/run/buildkit/ssh_agent.{len(targets)}"
            binds.append(BindMount(sock, target))
            env["SSH_AUTH_SOCK"] = target
        if target:
            targets.append(target)
    return binds, tmpfs, targets


def _cache_dir(s: Session, stack: ExitStack, m: MountArgs, target: str) -> str:
    """A cache mount's directory, kept in the store across builds; locked for sharing=locked."""
    cid = m.id or target
    d = s.store.path("cache", "mounts", Sha256(cid.encode()).hexdigest()[:32])
    if not os.path.exists(d):
        os.makedirs(d)
        os.chmod(d, m.mode if m.mode is not None else 0o755)
        os.chown(d, m.uid or 0, m.gid or 0)
    if (m.sharing or "shared") == "locked":
        from distill.fs.lock import locked

        stack.enter_context(locked(d + ".lock"))
    return d


def context_view(tree, src: str, dest: str, writable: bool) -> str:
    """The context as a RUN bind mount sees it: only what .dockerignore lets through.
    Files are hard links for a read-only mount and copies for rw, whose writes are lost."""
    import shutil

    host, _ = tree.resolve(src)
    if not os.path.isdir(host):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(host, dest)
        return dest
    os.makedirs(dest)
    for e in tree.walk(src, ""):
        out = os.path.join(dest, e.dest)
        mode = e.st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(out)
        elif stat.S_ISLNK(mode):
            os.symlink(e.linkname, out)
        elif stat.S_ISREG(mode):
            try:
                if writable:
                    raise OSError
                os.link(e.source, out)
            except OSError:  # rw, or the context is on another filesystem
                shutil.copy2(e.source, out)
    return dest
