"""Layer tars: create from a tree, apply safely, compress and hash in one pass."""

from distill.fs import in_chroot_isolation, in_user_namespace


def opaque_xattr() -> str:
    """The xattr that marks a directory opaque in the overlay form of a layer: overlayfs
    reads trusted.* as root, user.* when mounted in a user namespace (userxattr), where
    trusted.* cannot be written (nor without CAP_SYS_ADMIN: the chroot isolation)."""
    return "user.overlay.opaque" if in_user_namespace() or in_chroot_isolation() else "trusted.overlay.opaque"
