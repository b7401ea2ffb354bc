"""Steps that only change the image config (ENV, LABEL, ARG, EXPOSE, VOLUME, USER,
STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER). Pure: a state in,
the same state changed, and the history line docker would write for the step."""

from __future__ import annotations

import json

from distill.build.dockerfile import instructions as ins
from distill.build.plan.model import Step
from distill.build.solver.state import StageState


def go_list(items) -> str:
    """A list as Go's fmt prints it, as docker's history shows it: [a b c]."""
    return "[" + " ".join(json.dumps(i) for i in items) + "]"


def apply(step: Step, state: StageState) -> str:
    """Applies `step` to `state`'s config; returns its history `created_by`."""
    instr, a, c = step.instruction, step.args, state.config
    if isinstance(instr, ins.Env):
        for k, v in a.pairs:
            state.set_env(k, v)
        return "ENV " + " ".join(f"{k}={v}" for k, v in a.pairs)
    if isinstance(instr, ins.Label):
        c["Labels"] = {**(c.get("Labels") or {}), **dict(a.pairs)}
        return "LABEL " + " ".join(f"{k}={v}" for k, v in a.pairs)
    if isinstance(instr, ins.Arg):
        return "ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in a.values)
    if isinstance(instr, ins.Expose):
        c["ExposedPorts"] = {**(c.get("ExposedPorts") or {}), **{p: {} for p in a.ports}}
        return "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(a.ports)) + "]"  # as Go prints a map
    if isinstance(instr, ins.Volume):
        c["Volumes"] = {**(c.get("Volumes") or {}), **{p: {} for p in a.paths}}
        return "VOLUME [" + " ".join(a.paths) + "]"
    if isinstance(instr, ins.User):
        c["User"] = a.user
        return f"USER {a.user}"
    if isinstance(instr, ins.StopSignal):
        c["StopSignal"] = a.signal
        return f"STOPSIGNAL {a.signal}"
    if isinstance(instr, (ins.Cmd, ins.Entrypoint)):
        argv = list(a.args) if not a.shell_form else state.shell + [instr.text]
        if isinstance(instr, ins.Cmd):
            c["Cmd"] = argv
            state.cmd_set_here = True
            return f"CMD {go_list(argv)}"
        c["Entrypoint"] = argv
        if not state.cmd_set_here:
            c["Cmd"] = None
        return f"ENTRYPOINT {go_list(argv)}"
    if isinstance(instr, ins.Shell):
        c["Shell"] = list(a.shell)
        return f"SHELL {go_list(a.shell)}"
    if isinstance(instr, ins.Healthcheck):
        if a.test is None:
            c["Healthcheck"] = {"Test": ["NONE"]}
        else:
            hc = {"Test": list(a.test)}
            for key, val in (("Interval", a.interval), ("Timeout", a.timeout), ("StartPeriod", a.start_period),
                             ("StartInterval", a.start_interval), ("Retries", a.retries)):
                if val is not None:
                    hc[key] = val
            c["Healthcheck"] = hc
        return f"HEALTHCHECK {go_list(c['Healthcheck']['Test'])}"
    if isinstance(instr, ins.Onbuild):
        c["OnBuild"] = (c.get("OnBuild") or []) + [a.trigger]
        return f"ONBUILD {a.trigger}"
    if isinstance(instr, ins.Maintainer):
        state.author = a.name
        return f"MAINTAINER {a.name}"
    raise TypeError(f"{instr.keyword} is not a config step")
