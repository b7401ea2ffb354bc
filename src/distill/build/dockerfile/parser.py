"""Dockerfile text → AST, with BuildKit's rules.

Parser directives (`# syntax=`, `# escape=`, `# check=`) count only at the very top; lines
join on the escape character; comments and empty lines inside a continuation are dropped
(empty ones with a warning); heredocs are read for RUN, COPY and ADD (also under ONBUILD);
JSON (exec) form falls back to shell form when it is not valid JSON.
"""

from __future__ import annotations

import json
import re

from distill.errors import DockerfileError
from distill.build.dockerfile.ast import Heredoc, Node, Result
from distill.build.dockerfile.shell import GO_SPACE, Lexer, ShellError

MAX_LINE = 65535  # BuildKit's scanner limit, in bytes, for one physical line
DIRECTIVES = ("escape", "syntax", "check")
HEREDOC_COMMANDS = frozenset({"add", "copy", "run"})

_RE_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z", re.S)
_RE_WS = re.compile(r"[\t\v\f\r ]+")
# Go's unicode.IsSpace is Python's whitespace less the separators \x1c-\x1f. Said so, the
# classes compile in a third of the time GO_SPACE spelled out takes (~0.3 ms per start).
_RE_GO_SPACE = re.compile(r"[^\S\x1c-\x1f]+")
_RE_TOKEN = re.compile(r"[\S\x1c-\x1f]+")
_RE_HEREDOC = re.compile(r"(\d*)<<(-?)([^<]*)\Z", re.S)
_BOM = "\ufeff"


class _Directives:
    def __init__(self):
        self.done = False
        self.seen: dict[str, str] = {}
        self.set_escape("\\")

    def set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise DockerfileError(f"invalid escape token '{token}' does not match ` or \\")
        self.escape = token
        e = re.escape(token)
        # The escape token ends a line (after optional blanks) to continue it, unless it is
        # itself escaped; one alone on a line continues too.
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*\Z|\A{e}[ \t]*\Z", re.S)

    def consider(self, line: str) -> None:
        if self.done:
            return
        m = _RE_DIRECTIVE.match(line)
        if not m or m.group(1).lower() not in DIRECTIVES:
            self.done = True
            return
        key = m.group(1).lower()
        if key in self.seen:
            raise DockerfileError(f"only one {key} parser directive can be used")
        self.seen[key] = m.group(2)
        if key == "escape":
            self.set_escape(m.group(2))


def _trim_newline(s: str) -> str:
    return s.rstrip("\r\n")


def _is_comment(raw: str) -> bool:
    return _trim_newline(raw).lstrip(GO_SPACE).startswith("#")


def _process_line(d: _Directives, raw: str, strip_left: bool) -> str:
    token = _trim_newline(raw)
    if strip_left:
        token = token.lstrip(GO_SPACE)
    d.consider(token)
    return "" if token.startswith("#") else token


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if not line.rstrip(" \t").endswith(d.escape):
        return line, True  # cheap test first: the regex would scan the whole line
    m = d.continuation.search(line)
    if m:
        return line[: m.start()] + (m.group(1) or ""), False
    return line, True


def _byte_len_over(line: str, limit: int) -> bool:
    if len(line) <= limit // 4:
        return False
    return len(line.encode("utf-8", "surrogateescape")) > limit


def split_lines(text: str) -> list[str]:
    """Lines with their endings kept (a final line may lack one)."""
    lines = text.splitlines(keepends=True) if "\n" in text else ([text] if text else [])
    # str.splitlines also splits on \r, \v, \f, \x1c-\x1e, \x85, \u2028/9: BuildKit only on \n.
    if any(not l.endswith("\n") for l in lines[:-1]):
        lines = re.findall(r"[^\n]*\n|[^\n]+\Z", text)
    return lines


def parse(text: str | bytes, path: str = "Dockerfile") -> Result:
    """Parse a Dockerfile. Raises DockerfileError (with the line) on a syntax error."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    try:
        return _parse(text, path)
    except DockerfileError as e:
        raise e.at(path) from None


def _parse(text: str, path: str) -> Result:
    d = _Directives()
    lines = split_lines(text)
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    current = 0
    i, n = 0, len(lines)

    def next_raw() -> str:
        nonlocal i
        raw = lines[i]
        i += 1
        if _byte_len_over(raw, MAX_LINE + 1):
            raise DockerfileError(f"dockerfile line greater than max allowed size of {MAX_LINE}", current + 1)
        return raw

    while i < n:
        raw = next_raw()
        if current == 0 and raw.startswith(_BOM):
            raw = raw[1:]
        if _is_comment(raw):
            comments.append(_trim_newline(raw).lstrip(GO_SPACE)[1:].strip(GO_SPACE))
        try:
            line = _process_line(d, raw, True)
        except DockerfileError as e:
            raise DockerfileError(e.message, current + 1) from None
        current += 1
        start = current
        line, eol = _trim_continuation(line, d)
        if eol and line == "":
            continue
        empty_continuation = False
        while not eol and i < n:
            raw = next_raw()
            try:
                cont = _process_line(d, raw, False)
            except DockerfileError as e:
                raise DockerfileError(e.message, current + 1) from None
            current += 1
            if _is_comment(raw):
                continue
            if not _trim_newline(cont).lstrip(GO_SPACE):
                empty_continuation = True
                continue
            cont, eol = _trim_continuation(cont, d)
            line += cont
        if empty_continuation:
            warnings.append(f"{path}:{start}: empty continuation line found in: {line.strip()}")
        try:
            node = node_from_line(line, d.escape, comments)
        except (DockerfileError, ShellError) as e:
            raise DockerfileError(getattr(e, "message", str(e)), start, current) from None
        target = node.child if node.value == "onbuild" and node.child is not None else node
        if target.value in HEREDOC_COMMANDS and not target.json:
            try:
                docs = heredocs_in(line)
            except ShellError as e:
                raise DockerfileError(str(e), start, current) from None
            read = []
            for doc in docs:
                body, terminated = [], False
                while i < n:
                    raw = next_raw()
                    current += 1
                    candidate = _trim_newline(raw)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise DockerfileError("unterminated heredoc", start, current)
                read.append(Heredoc(doc.name, "".join(body), doc.expand, doc.chomp, doc.fd))
            target.heredocs = read
        node.start_line, node.end_line = start, current
        nodes.append(node)
        comments = []
    if not nodes:
        raise DockerfileError("file with no instructions", current)
    return Result(nodes, d.escape, warnings, dict(d.seen))


# ---- heredocs -------------------------------------------------------------------
def heredoc_from_word(word: str) -> Heredoc | None:
    m = _RE_HEREDOC.match(word)
    if not m:
        return None
    fd, chomp, rest = m.groups()
    if not rest:
        return None
    plain = Lexer("\\", skip_unset=True).process_words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lexer("\\", raw_quotes=True, skip_unset=True).process_words(rest, {})
    if len(raw) != len(plain):
        raise ShellError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    quotes = lambda w: w.count("'") + w.count('"')  # noqa: E731
    return Heredoc(plain[0], "", expand=quotes(plain[0]) == quotes(raw[0]), chomp=chomp == "-",
                   fd=int(fd) if fd else 0)


def heredocs_in(line: str) -> list[Heredoc]:
    if "<<" not in line:
        return []  # the common case, without running the lexer
    try:
        words = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True).process_words(line, {})
    except ShellError:
        words = []
    return [h for h in (heredoc_from_word(w) for w in words) if h is not None]


# ---- one logical line → node --------------------------------------------------------
def split_command(line: str) -> tuple[str, list[str], str]:
    parts = _RE_WS.split(line.strip(GO_SPACE), maxsplit=1)
    cmd = parts[0].lower()
    args, flags = "", []
    if len(parts) == 2:
        args, flags = extract_flags(parts[1])
    return cmd, flags, args.strip(GO_SPACE)


def extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words; `--` alone ends them. Returns (rest, flags)."""
    if not line.lstrip(GO_SPACE).startswith("--"):
        return line.lstrip(GO_SPACE), []
    words = []
    for m in _RE_TOKEN.finditer(line):  # fast path: flags without quotes or escapes
        w = m.group()
        if not w.startswith("--"):
            return line[m.start():], words
        if "'" in w or '"' in w or "\\" in w:
            words, rest = _scan(line, "\\", keep=False, flags=True)
            return (line[rest:] if rest is not None else ""), words
        if w == "--":
            return line[m.end():], words
        words.append(w)
    return "", words


def node_from_line(line: str, escape: str, comments: list[str] | None = None) -> Node:
    cmd, flags, rest = split_command(line)
    parser = INSTRUCTIONS.get(cmd)
    if parser is None:
        args, child, is_json = [""], None, False  # unknown: kept, judged later
    else:
        args, child, is_json = parser(rest, escape)
    return Node(cmd, line, flags, args, child, is_json, comments=list(comments or []))


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes (they are removed later)."""
    if "'" not in rest and '"' not in rest and escape not in rest:
        return [w for w in _RE_GO_SPACE.split(rest) if w]
    if not rest.endswith(escape):
        # Every character is kept verbatim unless an escape ends the text: a regex does it.
        return _word_regex(escape).findall(rest)
    return _parse_words_loop(rest, escape)


def _parse_words_loop(rest: str, escape: str) -> list[str]:
    return _scan(rest, escape, keep=True, flags=False)[0]


def _scan(text: str, escape: str, keep: bool, flags: bool) -> tuple[list[str], int | None]:
    """BuildKit's quote and escape state machine, for both its uses. Arguments (`keep`):
    quotes and escapes stay in the words (removed later), and the escape character is
    plain inside single quotes. Leading flags (`flags`, not `keep`): quotes and escapes
    are removed, a backslash escapes inside either quote, and a word not starting with
    `--`, or `--` alone, ends them. Returns the words and where the rest of the text
    starts (None: its end). An escape that ends the text is dropped; a quote left open
    takes the rest of it."""
    words: list[str] = []
    word: list[str] = []
    phase = 0  # 0: between words, 1: in a word, 2: in a quote
    quote = ""
    blank_ok = False
    pos, n = 0, len(text)
    while pos <= n:
        ch = text[pos] if pos < n else ""
        if phase == 0:
            if pos == n:
                break
            if ch in GO_SPACE:
                pos += 1
                continue
            if flags and (ch != "-" or pos + 1 == n or text[pos + 1] != "-"):
                return words, pos
            phase = 1
        if pos == n:
            w = "".join(word)
            if (blank_ok or w) and not (flags and w == "--"):
                words.append(w)
            break
        if phase == 1:
            if ch in GO_SPACE:
                phase = 0
                w = "".join(word)
                if flags and w == "--":
                    return words, pos
                if blank_ok or w:
                    words.append(w)
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, 2
                if not keep:
                    pos += 1
                    continue
            elif ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                if keep:
                    word.append(ch)
                pos += 1
                ch = text[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = 1
            if not keep:
                pos += 1
                continue
        elif ch == escape and (not keep or quote != "'"):
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            if keep:
                word.append(ch)
            pos += 1
            ch = text[pos]
        word.append(ch)
        pos += 1
    return words, None


_WORD_REGEX: dict[str, re.Pattern] = {}


def _word_regex(escape: str) -> re.Pattern:
    if escape not in _WORD_REGEX:
        sp, e = re.escape(GO_SPACE), re.escape(escape)
        plain = f"[^{sp}'\"{e}]"
        escaped = f"{e}[\\s\\S]"
        dq = f'"(?:[^"{e}]|{e}[\\s\\S])*(?:"|\\Z)'
        sq = "'[^']*(?:'|\\Z)"
        _WORD_REGEX[escape] = re.compile(f"(?:{plain}|{escaped}|{dq}|{sq})+")
    return _WORD_REGEX[escape]


class _NotStrings(DockerfileError):
    pass


def _fix_surrogates(s: str) -> str:
    # Go decodes invalid UTF-8 and lone surrogate escapes in JSON to U+FFFD
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s) if any(
        0xD800 <= ord(c) <= 0xDFFF for c in s) else s


def _bad_constant(name):
    raise ValueError(name)


_JSON = json.JSONDecoder(parse_constant=_bad_constant)


def parse_json(rest: str) -> list[str] | None:
    """The JSON array at the start of `rest`, or None if there is none."""
    rest = rest.lstrip(GO_SPACE)
    if not rest.startswith("["):
        return None
    try:
        value, _ = _JSON.raw_decode(rest)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NotStrings("when using JSON array syntax, arrays must be comprised of strings only")
    return [_fix_surrogates(v) for v in value]


def _maybe_json(rest: str, escape: str):
    if rest == "":
        return [], None, False
    j = parse_json(rest)
    if j is not None:
        return j, None, True
    return [rest], None, False


def _maybe_json_list(rest: str, escape: str):
    j = parse_json(rest)
    if j is not None:
        return j, None, True
    return _whitespace_list(rest, escape)


def _whitespace_list(rest: str, escape: str):
    if rest == "":
        return [], None, False
    return _RE_WS.split(rest), None, False


def _string(rest: str, escape: str):
    return ([rest] if rest else []), None, False


def _name_val(rest: str, escape: str, key: str):
    words = parse_words(rest, escape)
    if not words:
        return [], None, False
    if "=" not in words[0]:
        parts = _RE_WS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""], None, False
    args = []
    for w in words:
        if "=" not in w:
            raise DockerfileError(f"Syntax error - can't find = in {_go_q(w)}. Must be of the form: name=value")
        k, _, v = w.partition("=")
        args += [k, v, "="]
    return args, None, False


def _go_q(s: str) -> str:
    from distill.build.dockerfile.goquote import quote

    return quote(s)


def _env(rest, escape):
    return _name_val(rest, escape, "ENV")


def _label(rest, escape):
    return _name_val(rest, escape, "LABEL")


def _name_or_name_val(rest, escape):
    return parse_words(rest, escape), None, False


def _healthcheck(rest: str, escape: str):
    sep = 0
    while sep < len(rest) and rest[sep] not in GO_SPACE:
        sep += 1
    nxt = sep
    while nxt < len(rest) and rest[nxt] in GO_SPACE:
        nxt += 1
    if sep == 0:
        return [], None, False
    args, _, is_json = _maybe_json(rest[nxt:], escape)
    return [rest[:sep]] + args, None, is_json


def _onbuild(rest: str, escape: str):
    if rest == "":
        return [], None, False
    return [], node_from_line(rest, escape), False


INSTRUCTIONS = {  # every instruction, and how its arguments are parsed
    "add": _maybe_json_list,
    "arg": _name_or_name_val,
    "cmd": _maybe_json,
    "copy": _maybe_json_list,
    "entrypoint": _maybe_json,
    "env": _env,
    "expose": _whitespace_list,
    "from": _whitespace_list,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": _string,
    "onbuild": _onbuild,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_list,
    "workdir": _string,
}
