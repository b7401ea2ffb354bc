"""Keeping a store sound: garbage collection (gc), verification and repair (fsck), and
collecting what killed builds and runs left (stale)."""
