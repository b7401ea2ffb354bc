"""The lowest floor: file operations (files), atomic writes and temp entries (atomic),
locks (lock), who made a temp entry (owner), paths confined to a root (confined)."""
