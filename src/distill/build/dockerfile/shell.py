"""Shell-style word expansion and splitting, with BuildKit's rules.

Used for the instructions BuildKit expands (ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL,
STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD triggers when they run); never for the bodies of
RUN, CMD or ENTRYPOINT, which the shell in the container expands.

Supported: $V ${V} ${V:-w} ${V-w} ${V:+w} ${V+w} ${V:?m} ${V?m} ${V#p} ${V##p} ${V%p}
${V%%p} ${V/p/r} ${V//p/r}, single and double quotes, the escape character.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SPECIAL_PARAMS = frozenset("@*#?-$!0")
# Go's unicode.IsSpace: what BuildKit splits words on.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACE_SET = frozenset(GO_SPACE)


class ShellError(ValueError):
    pass


class _Words:
    """Accumulates characters into words; unquoted whitespace separates them."""

    __slots__ = ("word", "words", "in_word")

    def __init__(self):
        self.word, self.words, self.in_word = "", [], False

    def add_char(self, ch: str) -> None:
        if ch in _GO_SPACE_SET:
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word, self.in_word = "", False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word, self.in_word = "", False
        return self.words


class Lexer:
    """One expansion engine per escape character; options mirror BuildKit's lexer."""

    def __init__(self, escape: str = "\\", raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False):
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    def process_word(self, text: str, env: Mapping[str, str]) -> str:
        """Expand `text` into one string (no splitting)."""
        return _Run(self, text, env).process()[0]

    def process_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """Expand and split into words, as the shell would."""
        return _Run(self, text, env).process()[1]


class _Run:
    __slots__ = ("lx", "s", "i", "n", "env")

    def __init__(self, lx: Lexer, text: str, env: Mapping[str, str]):
        self.lx, self.s, self.i, self.n, self.env = lx, text, 0, len(text), env

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def next(self) -> str:
        if self.i < self.n:
            ch = self.s[self.i]
            self.i += 1
            return ch
        return ""

    def process(self) -> tuple[str, list[str]]:
        return self.process_until("")

    def process_until(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        esc = self.lx.escape
        while self.i < self.n:
            ch = self.s[self.i]
            if stop and ch == stop:
                self.i += 1
                return "".join(out), words.result()
            if ch == "'":
                tmp = self.single_quote()
                out.append(tmp)
                words.add_raw_string(tmp)
            elif ch == '"':
                tmp = self.double_quote()
                out.append(tmp)
                words.add_raw_string(tmp)
            elif ch == "$":
                tmp = self.dollar()
                out.append(tmp)
                words.add_string(tmp)
            else:
                self.i += 1
                if ch == esc:
                    if self.lx.raw_escapes:
                        words.add_raw_char(ch)
                        out.append(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop:
            raise ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def single_quote(self) -> str:
        # Everything up to the next ' is literal; nothing escapes a single quote.
        self.i += 1
        end = self.s.find("'", self.i)
        if end < 0:
            raise ShellError("unexpected end of statement while looking for matching single-quote")
        body = self.s[self.i:end]
        self.i = end + 1
        return f"'{body}'" if self.lx.raw_quotes else body

    def double_quote(self) -> str:
        out: list[str] = []
        if self.lx.raw_quotes:
            out.append('"')
        self.i += 1
        esc = self.lx.escape
        while True:
            ch = self.peek()
            if not ch:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.i += 1
                if self.lx.raw_quotes:
                    out.append('"')
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.i += 1
            if ch == esc:
                if self.lx.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if not nxt:
                    continue  # an escape at the very end is dropped
                if nxt in ('"', "$", esc):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        start = self.i
        ch = self.peek()
        if ch and ch.isdigit() and ch.isascii():
            while self.i < self.n and self.s[self.i].isdigit() and self.s[self.i].isascii():
                self.i += 1
            return self.s[start:self.i]
        if ch in SPECIAL_PARAMS and ch:
            self.i += 1
            return ch
        while self.i < self.n:
            c = self.s[self.i]
            if not (c.isalpha() or c.isdigit() or c == "_"):
                break
            self.i += 1
        return self.s[start:self.i]

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        self.i += 1  # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.lx.skip_unset:
                return "$" + name
            return value
        self.i += 1  # the {
        ch = self.peek()
        if not ch:
            raise ShellError("syntax error: missing '}'")
        if ch in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        value, found = self.lookup(name)
        if ch == "}":
            if not found and self.lx.skip_unset:
                return "${%s}" % name
            return value
        if ch in ("?", "-", "+"):
            word = self._word_until("}")
            if ch == "?":
                if not found:
                    if self.lx.skip_unset:
                        return "${%s?%s}" % (name, word)
                    raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
                return value
            if ch == "-":
                return value if found else word
            return word if found else ""
        if ch == ":":
            modifier = self.next()
            word = self._word_until("}")
            if modifier == "+":
                return word if value else value
            if modifier == "-":
                return value if value else word
            if modifier == "?":
                if not found:
                    raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
                if not value:
                    raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            raise ShellError(f"unsupported modifier ({modifier}) in substitution")
        if ch in ("#", "%"):
            longest = self.peek() == ch
            if longest:
                self.i += 1
            pattern = self._word_until("}")
            if not found and self.lx.skip_unset:
                return "${%s%s%s}" % (name, ch * (2 if longest else 1), pattern)
            return _trim(value, pattern, prefix=ch == "#", longest=longest)
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.i += 1
            pattern = self._word_until("/")
            replacement = self._word_until("}")
            if not found and self.lx.skip_unset:
                return "${%s/%s%s/%s}" % (name, "/" if replace_all else "", pattern, replacement)
            return _replace(value, pattern, replacement, replace_all)
        if not ch:
            raise ShellError("syntax error: missing '}'")
        raise ShellError("missing ':' in substitution")

    def _word_until(self, stop: str) -> str:
        try:
            return self.process_until(stop)[0]
        except ShellError:
            if self.i >= self.n:
                raise ShellError("syntax error: missing '}'") from None
            raise


def _glob_regex(pattern: str, greedy: bool) -> str:
    """A shell pattern (*, ?, [...], backslash escapes) as a regex fragment."""
    out, i, n = [], 0, len(pattern)
    star = ".*" if greedy else ".*?"
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(star)
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _trim(value: str, pattern: str, prefix: bool, longest: bool) -> str:
    rx = re.compile(_glob_regex(pattern, True), re.S)
    lengths = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for k in lengths:
        part = value[:k] if prefix else value[len(value) - k :]
        if rx.fullmatch(part):
            return value[k:] if prefix else value[: len(value) - k]
    return value


def _replace(value: str, pattern: str, replacement: str, replace_all: bool) -> str:
    if not pattern:
        return value
    rx = re.compile(_glob_regex(pattern, True), re.S)
    return rx.sub(lambda m: replacement, value, count=0 if replace_all else 1)
