"""WORKDIR: a step of its own, as in BuildKit: it makes the directory (owned by the
stage's USER) when the image lacks it, and a layer only then. It looks without a mount
(solver/views.py), so a stage that runs nothing never unpacks its base; a path through a
symlink goes through a mount."""

from __future__ import annotations

import os
import time

from distill.build.cache.steps import step_key
from distill.fs.confined import make_dirs, read_text, resolve
from distill.image.layers.tarstream import DIR
from distill.build.plan.model import Stage, Step
from distill.build.solver.session import Session
from distill.build.solver.state import StageState
from distill.build.solver.views import Unsuitable, view_of


def workdir_step(s: Session, stage: Stage, step: Step, state: StageState, label: str | None) -> None:
    path = step.args.path
    state.config["WorkingDir"] = path
    created_by = f"WORKDIR {path}"
    key = step_key(state.key, "WORKDIR", {"path": path, "user": state.user})
    progress = s.progress_step(label, step)
    if s.cached(state, key, created_by, stage, step, progress):
        return
    try:
        made, layer = _without_mount(s, stage, step, state, path)
    except Unsuitable:
        made, layer = _through_mount(s, state, path)
    # a directory that was there makes no layer, and no new date: the image stays the same
    s.finish(state, key, layer, created_by, stage, step, progress, None if made else state.created)


def _without_mount(s: Session, stage: Stage, step: Step, state: StageState, path: str):
    from distill.build.runtime.users import resolve as resolve_user
    from distill.build.solver.copy import CopyItem
    from distill.build.solver.direct import entries

    view = view_of(s.store, state.layers, state.diff_ids, unpack=s.runs_later(stage, step))
    if view.is_dir(path):
        return False, None
    comps = [p for p in path.split("/") if p]
    missing = [i for i in range(len(comps)) if view.lookup("/".join(comps[:i + 1])) is None]
    if not missing or missing != list(range(missing[0], len(comps))):
        raise Unsuitable(path)  # a file where a directory should be: the mount path says so
    ident = resolve_user(state.user, view.read_text("/etc/passwd"), view.read_text("/etc/group"))
    now = time.time()
    items = [CopyItem("/".join(comps[:i + 1]), DIR, 0o755, ident.uid, ident.gid, now) for i in missing]
    return True, s.layer_from_items(entries(view, items))


def _through_mount(s: Session, state: StageState, path: str):
    with s.mounted(state) as m:
        root = m.merged
        if os.path.isdir(resolve(root, path)[0]):
            return False, None
        from distill.build.runtime.users import resolve as resolve_user

        ident = resolve_user(state.user, read_text(root, "/etc/passwd"), read_text(root, "/etc/group"))
        make_dirs(root, path, ident.uid, ident.gid)
        return True, s.commit(m)
