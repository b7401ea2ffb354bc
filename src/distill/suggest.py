"""'Did you mean' for a misspelt word: an instruction, a flag, a stage's name."""

from __future__ import annotations


def closest(word: str, known) -> str | None:
    """The known word nearest a misspelt one (difflib's ratio at least 0.7), or None."""
    import difflib

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.7)
    return close[0] if close else None


def did_you_mean(word: str, known, shown=str) -> str:
    """'; did you mean X?' for the known word nearest a misspelt one, else ''."""
    near = closest(word, known)
    return f"; did you mean {shown(near)}?" if near else ""
