"""Layer tars: create from a tree, apply safely, compress and hash in one pass."""

from distill.fs import in_user_namespace


def opaque_xattr() -> str:
    """The xattr that marks a directory opaque in the overlay form of a layer: overlayfs
    reads trusted.* as root, user.* when mounted in a user namespace (userxattr), where
    trusted.* cannot be written."""
    return "user.overlay.opaque" if in_user_namespace() else "trusted.overlay.opaque"
