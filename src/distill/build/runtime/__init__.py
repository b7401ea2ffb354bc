"""Running processes in image filesystems with runc."""

RUNC_ROOT = "/run/runc"  # runc's records when it runs as root
CONTAINER_PREFIX = "distill-"  # a build container's name: this, then owner.named()'s parts
