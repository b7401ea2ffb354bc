"""The build record: how an image was built, for analyses to attribute what they find (a
layer, a file, a package) to a stage and a Dockerfile line. Pure: made from the plan and
what the solver reports; api.build stores it beside the image (store/records.py).

{"version": 1,
 "dockerfile": {"path", "digest"}, "context", "target", "build_args", "platform",
 "isolation": {"runtime", "user_namespace", "process_sandbox", "default_network"} (runtime/isolation.py),
 "stages": [{"index", "name", "line", "target": bool,
             "base": {"ref", "kind": image|stage|scratch, "digest" (image), "stage" (stage)},
             "image": {"id", "manifest"},
             "steps": [{"line", "end_line", "instruction", "layer", "cached",
                        "copies": {"from": {"stage", "name"} | {"image"} | {"context": true},
                                   "paths": [[source, destination], ...], "truncated"}}]}]}

`cached` is null for a step that only sets config; `layer` is null for a step that made
none. Stages the target does not need are not built, and not listed."""

from __future__ import annotations

import json

from distill.digest import of_bytes

VERSION = 1


def build_record(plan, options, facts: dict, bases: dict[str, str], stage_images: dict[int, dict],
                 platform: str) -> dict:
    """`facts`: stage index → [solver.options.StepFact]; `bases`: image reference →
    manifest digest; `stage_images`: stage index → {"id", "manifest"}."""
    stages = []
    for i in plan.build_order:
        stage = plan.stages[i]
        base = {"ref": stage.base, "kind": stage.base_kind}
        if stage.base_kind == "image":
            base["digest"] = bases.get(stage.base)
        elif stage.base_kind == "stage":
            base["stage"] = stage.base_stage
        steps = []
        for f in facts.get(i, []):
            step = {"line": f.line, "end_line": f.end_line, "instruction": f.instruction, "layer": f.layer,
                    "cached": f.cached}
            if f.copies is not None:
                step["copies"] = _named(f.copies, plan)
            steps.append(step)
        stages.append({"index": i, "name": stage.name, "line": stage.line, "target": i == plan.target,
                       "base": base, "image": stage_images.get(i), "steps": steps})
    dockerfile = options.dockerfile
    return {
        "version": VERSION,
        "dockerfile": {"path": options.dockerfile_path, "digest": of_bytes(dockerfile)},
        "context": options.context,
        "target": plan.target_stage.ref,
        "build_args": dict(options.build_args),
        "platform": platform,
        "stages": stages,
    }


def _named(copies: dict, plan) -> dict:
    """A COPY's origin with the stage's name beside its index."""
    origin = dict(copies.get("from") or {})
    if "stage" in origin:
        origin["name"] = plan.stages[origin["stage"]].name
    return {**copies, "from": origin}


def encode(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
