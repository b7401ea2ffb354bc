"""Running processes in image filesystems with runc."""

import os

CONTAINER_PREFIX = "distill-"  # a build container's name: this, then owner.named()'s parts
RUNC_ROOT_ENV = "DISTILL_RUNC_ROOT"  # set for a user other than root: its runc records live in its store


def runc_root() -> str:
    """Where runc keeps its records of containers: its own default as root."""
    return os.environ.get(RUNC_ROOT_ENV) or "/run/runc"


def runc_argv(*args: str) -> list[str]:
    """runc with its records' place; in a user namespace of distill's, told it is rootless
    (cgroups it cannot write are then skipped): with every id mapped to itself, as root
    without CAP_SYS_ADMIN maps them, runc would take the namespace for the machine's."""
    from distill.fs import in_user_namespace

    return ["runc", "--root", runc_root(), *(["--rootless", "true"] if in_user_namespace() else []), *args]
