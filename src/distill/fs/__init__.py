"""The lowest floor: file operations (files), atomic writes and temp entries (atomic),
locks (lock), who made a temp entry (owner), paths confined to a root (confined)."""

import os

USERNS_ENV = "DISTILL_USERNS"  # set inside the user namespace a user other than root works in


def in_user_namespace() -> bool:
    """This process works as root of a user namespace of its own (build/runtime/userns.py):
    what it writes as root is owned by a user, and overlayfs marks go in user.* xattrs."""
    return USERNS_ENV in os.environ


def user_namespace_ids() -> str:
    """"full" (the user's subordinate ids map too), "single" (only root maps), or "" (not
    in a user namespace of distill's)."""
    return os.environ.get(USERNS_ENV, "")
