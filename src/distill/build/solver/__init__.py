"""Walks the plan: stages in dependency order (independent ones at once), each step's cache
key computed first, the step executed only on a miss."""
