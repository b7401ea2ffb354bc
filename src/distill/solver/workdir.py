"""WORKDIR: a step of its own, as in BuildKit: it makes the directory (owned by the
stage's USER) when the image lacks it, and a layer only then."""

from __future__ import annotations

import os

from ..cache.steps import step_key
from ..fsroot import make_dirs, read_text, resolve
from ..plan.model import Stage, Step
from .session import Session
from .state import StageState


def workdir_step(s: Session, stage: Stage, step: Step, state: StageState, label: str | None) -> None:
    path = step.args.path
    state.config["WorkingDir"] = path
    created_by = f"WORKDIR {path}"
    key = step_key(state.key, "WORKDIR", {"path": path, "user": state.user})
    progress = s.progress_step(label, step)
    if s.cached(state, key, created_by, stage, step, progress):
        return
    layer = None
    with s.mounted(state) as m:
        root = m.merged
        if not os.path.isdir(resolve(root, path)[0]):
            from ..runtime.users import resolve as resolve_user

            ident = resolve_user(state.user, read_text(root, "/etc/passwd"), read_text(root, "/etc/group"))
            make_dirs(root, path, ident.uid, ident.gid)
            layer = s.commit_upper(m.changes())
    # a directory that was there makes no layer, and no new date: the image stays the same
    s.finish(state, key, layer, created_by, stage, step, progress, None if layer else state.created)
