"""RUN: the command in a runc container on an overlay mount of the stage; what it changed
becomes the step's layer."""

from __future__ import annotations

import os
import posixpath
from contextlib import ExitStack

from distill.build.cache.steps import step_key
from distill.config import DEFAULT_PATH
from distill.build.dockerfile import instructions as ins
from distill.fs import in_chroot_isolation
from distill.fs.confined import make_dirs, read_text, resolve
from distill.build.plan.args import PROXY_ARGS
from distill.build.plan.model import Stage, Step
from distill.build.runtime.isolation import default_network
from distill.build.solver.metadata import go_list
from distill.build.solver.mounts import mount_keys, run_mounts
from distill.build.solver.options import BuildError
from distill.build.solver.session import Session
from distill.build.solver.state import StageState

# what runc mounts over the rootfs, created when missing and removed again after the run
RUNTIME_STUBS = ("/proc", "/dev", "/sys", "/etc/hosts", "/etc/resolv.conf")


def run_step(s: Session, stage: Stage, step: Step, state: StageState, label: str | None) -> None:
    instr: ins.Run = step.instruction
    a = step.args
    env = step.env_map
    for k in PROXY_ARGS:
        if k in s.o.build_args and k not in env:
            env[k] = s.o.build_args[k]
    env.setdefault("PATH", DEFAULT_PATH.split("=", 1)[1])
    argv = state.shell + [heredoc_script(instr)] if a.shell_form else list(a.args)
    network = run_network(a.network, s.o.network)
    payload = {"argv": argv, "env": sorted(f"{k}={v}" for k, v in env.items()), "user": state.user,
               "workdir": state.workdir, "network": network, "security": a.security, "mounts": mount_keys(s, a.mounts)}
    key = step_key(state.key, "RUN", payload)
    shown = [f"{k}={v}" for k, v in a.build_args]
    created_by = f"RUN {' '.join(([f'|{len(shown)}'] + shown if shown else []) + argv)} # buildkit"
    progress = s.progress_step(label, step)
    if s.cached(state, key, created_by, stage, step, progress):
        return
    # only a step that runs needs the runtime: a cached rebuild never imports it
    from distill.build.runtime.binfmt import can_run, INSTALL_HINT

    if not can_run(state.platform):
        raise BuildError(f"{s.o.dockerfile_path}:{step.line}: RUN for {state.platform} needs an emulator, which this "
                         f"machine has not registered: {INSTALL_HINT}")

    if in_chroot_isolation():
        from distill.build.runtime import chroot as runtime

        if network != "host" or a.security == "insecure":
            what = f"--network={network}" if network != "host" else "--security=insecure"
            raise BuildError(f"{s.o.dockerfile_path}:{step.line}: RUN {what} needs namespaces, which this "
                             "container refuses (its RUN steps are chrooted)")
    else:
        from distill.build.runtime import runc as runtime
    from distill.build.runtime.spec import ProcessSpec
    from distill.build.runtime.users import resolve as resolve_user

    with ExitStack() as stack:
        m = stack.enter_context(s.mounted(state))
        root = m.merged
        ident = resolve_user(state.user, read_text(root, "/etc/passwd"), read_text(root, "/etc/group"))
        env.setdefault("HOME", ident.home)
        make_dirs(root, state.workdir, ident.uid, ident.gid)
        binds, tmpfs, targets = run_mounts(s, stack, a.mounts, state.workdir, env)
        work = s.scratch_dir(stack, "run-")
        net = s.network(stack, network, work)
        binds += net.files
        missing = [p for p in list(RUNTIME_STUBS) + targets if not os.path.lexists(resolve(root, p)[0])]
        parents = _parent_metadata(root, missing)
        spec = ProcessSpec(argv, [f"{k}={v}" for k, v in env.items()], state.workdir, ident.uid, ident.gid,
                           list(ident.member_gids), net.namespace(), binds=binds, tmpfs=tmpfs,  # as BuildKit
                           insecure=a.security == "insecure")
        code = runtime.run(root, spec, work, progress.output, cancel=s.cancelled)
        _remove_stubs(root, m.upper, missing, parents)
        if code != 0:
            tail = "\n".join(progress.tail()[-10:])
            progress.error(f"exit code {code}")
            raise BuildError(f"{s.o.dockerfile_path}:{step.line}: RUN {instr.text or go_list(a.args)} "
                             f"did not complete successfully: exit code {code}" + (f"\n{tail}" if tail else ""))
        layer = s.commit(m)
    s.finish(state, key, layer, created_by, stage, step, progress)


def network_ahead(s: Session, stage: Stage, step: Step) -> None:
    """At a step that runs, the private network of the stage's next RUN starts being made
    (once a step of a stage runs, every later one does: their keys chain)."""
    later = stage.steps[stage.steps.index(step) + 1:]
    if any(isinstance(x.instruction, ins.Run) and run_network(x.args.network, s.o.network) == "private"
           for x in later) and not in_chroot_isolation():
        s.network_ahead()


def run_network(flag: str | None, build: str) -> str:
    """A RUN step's network: its own --network, else the build's; `default` is the private
    network (runtime/network.py), as BuildKit's default is its sandbox's, but in a
    container where none can forward (isolation.default_network)."""
    mode = flag if flag not in (None, "default") else build
    if mode == "default":
        return default_network()
    return mode


def heredoc_script(instr: ins.Run) -> str:
    """The shell script of a shell-form RUN: a lone heredoc is the script itself; otherwise
    the heredocs follow the command, as the shell would read them."""
    text = instr.text
    if not instr.heredocs:
        return text
    h = instr.heredocs[0]
    if len(instr.heredocs) == 1 and text.strip() in (f"<<{h.name}", f"<<-{h.name}", f"<<'{h.name}'", f'<<"{h.name}"'):
        content = h.content
        if h.chomp:
            content = "".join(line.lstrip("\t") for line in content.splitlines(keepends=True))
        return content
    parts = [text]
    for h in instr.heredocs:
        parts.append(h.content.rstrip("\n") if h.content else "")
        parts.append(h.name)
    return "\n".join(p for p in parts if p is not None)


def _parent_metadata(root: str, stubs: list[str]) -> dict[str, tuple]:
    """(mode, uid, gid, atime, mtime, names) of the existing directories above the mount
    points runc will create."""
    out = {}
    for p in stubs:
        parent = posixpath.dirname(p)
        while parent not in ("/", ""):
            host = os.path.join(root, parent.lstrip("/"))
            if os.path.isdir(host) and not os.path.islink(host):
                st = os.stat(host)
                out[parent] = (st.st_mode, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns,
                               sorted(os.listdir(host)))
            parent = posixpath.dirname(parent)
    return out


def _remove_stubs(root: str, upper: str, paths: list[str], parents: dict[str, tuple]) -> None:
    """Mount points runc had to create for a RUN, removed again when left empty, with the
    directories overlayfs copied up only to hold them (so `RUN true` leaves no layer); a
    directory that holds what it held before gets its times back (a tree compared
    after the step, the copy snapshotter's, would see it changed)."""
    for p in sorted(set(paths), key=lambda s: -s.count("/")):
        host = os.path.join(root, p.lstrip("/"))
        try:
            if os.path.isdir(host) and not os.path.islink(host):
                os.rmdir(host)
            elif os.path.isfile(host) and os.path.getsize(host) == 0:
                os.unlink(host)
        except OSError:
            continue
        parent = posixpath.dirname(p)
        while parent not in ("/", ""):
            if parent in parents:
                # existed before the RUN: drop the copy-up if nothing else changed in it
                up = os.path.join(upper, parent.lstrip("/"))
                try:
                    st = os.stat(up)
                    untouched = (st.st_mode, st.st_uid, st.st_gid) == parents[parent][:3] and not os.listdir(up)
                    opaque = any(x.endswith("overlay.opaque") for x in os.listxattr(up))
                    if untouched and not opaque:
                        os.rmdir(up)
                        parent = posixpath.dirname(parent)
                        continue
                except OSError:
                    pass
                break
            try:
                os.rmdir(os.path.join(root, parent.lstrip("/")))
            except OSError:
                break
            parent = posixpath.dirname(parent)
    for parent, (*_, atime, mtime, names) in parents.items():
        host = os.path.join(root, parent.lstrip("/"))
        try:
            # (where the time shows through already, overlayfs would copy the directory up)
            if os.stat(host).st_mtime_ns != mtime and sorted(os.listdir(host)) == names:
                os.utime(host, ns=(atime, mtime))
        except OSError:
            continue
