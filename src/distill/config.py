"""Image configs (OCI image-spec config, as docker and BuildKit write them)."""

from __future__ import annotations

import os
import time

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def with_default_path(env: list[str] | None) -> list[str]:
    """An image's Env with the default PATH added when it has none, as BuildKit gives every
    stage one (FROM scratch, an imported root filesystem, a config without Env)."""
    env = list(env or [])
    if not any(e.partition("=")[0] == "PATH" for e in env):
        env.append(DEFAULT_PATH)
    return env


def json_copy(value):
    """A deep copy of parsed JSON (dicts, lists, scalars) in half of copy.deepcopy's time,
    and no `copy` module (and weakref behind it) to import."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


def now_rfc3339() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = int(epoch) if epoch and epoch.isdigit() else time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def new_config(platform, diff_ids: list[str], created_by: str, comment: str | None = None,
               env: list[str] | None = None, cmd: list[str] | None = None) -> dict:
    created = now_rfc3339()
    history = {"created": created, "created_by": created_by}
    if comment:
        history["comment"] = comment
    config: dict = {"Env": env if env is not None else [DEFAULT_PATH]}
    if cmd:
        config["Cmd"] = cmd
    doc = {
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [history],
    }
    if platform.variant:
        doc["variant"] = platform.variant
    return doc
