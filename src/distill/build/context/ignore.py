"""`.dockerignore` patterns with Docker's semantics.

Patterns are anchored at the context root (a leading `/` changes nothing), `*` and `?` stay
within one path component, `**` spans any number of them, `!` re-includes, the last
matching pattern decides, and a pattern matching a directory matches everything in it.
"""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache

from distill.record import Record

_ESCAPE = set(".+()|{}$^")


def _clean(p: str) -> str:
    p = posixpath.normpath(p) if p else "."
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    return p


def _to_regex(pattern: str) -> str:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch in _ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append("\\\\")
        else:
            out.append(ch if ch in "[]-" else re.escape(ch) if not ch.isalnum() else ch)
    out.append("$")
    return "".join(out)


class Pattern(Record):
    text: str
    exclusion: bool  # a `!` pattern: re.includes
    regex: re.Pattern


def parse_patterns(text: str) -> list[Pattern]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
            if not line:
                continue
        p = _clean(line)
        if len(p) > 1 and p.startswith("/"):
            p = p[1:]
        try:
            rx = re.compile(_to_regex(p), re.S)
        except re.error:
            from distill.errors import DistillError

            raise DistillError(f".dockerignore: invalid pattern {line!r}") from None
        out.append(Pattern(p, invert, rx))
    return out


class Matcher:
    def __init__(self, patterns: list[Pattern]):
        self.patterns = patterns
        self.has_exclusions = any(p.exclusion for p in patterns)

    @classmethod
    def from_text(cls, text: str) -> "Matcher":
        return cls(parse_patterns(text))

    def ignored(self, path: str) -> bool:
        """Is `path` (relative, '/'-separated) excluded from the context?"""
        return self._ignored(path)

    @lru_cache(maxsize=65536)
    def _ignored(self, path: str) -> bool:
        matched = False
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        for p in self.patterns:
            if p.exclusion != matched:
                continue  # only a pattern that could change the verdict is tried
            match = bool(p.regex.match(path))
            if not match and parents:
                for i in range(1, len(parents) + 1):
                    if p.regex.match("/".join(parents[:i])):
                        match = True
                        break
            if match:
                matched = not p.exclusion
        return matched

    def may_reinclude_under(self, dir_path: str) -> bool:
        """Could a `!` pattern bring back something under an excluded directory?"""
        if not self.has_exclusions:
            return False
        prefix = dir_path + "/"
        for p in self.patterns:
            if p.exclusion:
                literal = re.split(r"[*?\[\\]", p.text, maxsplit=1)[0]
                if literal.startswith(prefix) or prefix.startswith(literal) or not literal:
                    return True
        return False

    def __hash__(self):
        return id(self)
