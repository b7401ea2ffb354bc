"""Running processes in image filesystems with runc."""
