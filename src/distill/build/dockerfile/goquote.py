"""Go's strconv.Quote, for BuildKit's AST dump format byte for byte."""

from __future__ import annotations

_SIMPLE = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
           "\\": "\\\\", '"': '\\"'}


def quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _SIMPLE:
            out.append(_SIMPLE[ch])
            continue
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:  # an invalid UTF-8 byte kept by surrogateescape
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif cp < 0x20 or cp == 0x7F:
            out.append(f"\\x{cp:02x}")
        elif ch == " " or (ch.isprintable() and not (0xD800 <= cp <= 0xDFFF)):
            out.append(ch)
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def quote_list(items: list[str]) -> str:
    """fmt's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(quote(i) for i in items) + "]"
