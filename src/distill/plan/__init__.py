"""Build plans: stages, ARG scopes, base references, the dependency DAG, target pruning."""

from .model import Plan, Stage, Step
from .planner import make_plan

__all__ = ["Plan", "Stage", "Step", "make_plan"]
