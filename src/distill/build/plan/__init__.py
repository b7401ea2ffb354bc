"""Build plans: stages, ARG scopes, base references, the dependency DAG, target pruning."""

from distill.build.plan.model import Plan, Stage, Step
from distill.build.plan.planner import make_plan

__all__ = ["Plan", "Stage", "Step", "make_plan"]
