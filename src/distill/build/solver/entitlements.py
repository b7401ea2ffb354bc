"""Entitlements, as BuildKit grants them: a Dockerfile is someone else's code, so a RUN
step that asks for the machine's network or for privileges runs only when the person
building allowed it (`--allow`). Checked before any step runs."""

from __future__ import annotations

from distill.build.dockerfile import instructions as ins
from distill.build.solver.options import BuildError

# entitlement → what a RUN step's arguments ask for it with
ENTITLEMENTS = {
    "network.host": ("--network=host", lambda a: a.network == "host"),
    "security.insecure": ("--security=insecure", lambda a: a.security == "insecure"),
}


def check(plan, allowed: tuple[str, ...], dockerfile_path: str) -> None:
    """Fails, naming the first such line, when a RUN of a stage the build needs asks for
    an entitlement not allowed."""
    refused = sorted((step.line, flag, name) for i in plan.build_order for step in plan.stages[i].steps
                     if isinstance(step.instruction, ins.Run)
                     for name, (flag, asks) in ENTITLEMENTS.items() if asks(step.args) and name not in allowed)
    if refused:
        line, flag, name = refused[0]
        raise BuildError(f"{dockerfile_path}:{line}: RUN {flag} needs the entitlement {name}: "
                         f"build with --allow {name}")
