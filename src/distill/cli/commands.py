"""What every command module shares: the registry (a command's flags kept as data until it
is chosen), argparse with its phrases untranslated, flag types, the store a command names,
and reading and writing the files a command is given."""

from __future__ import annotations

import os
import sys

from distill.errors import LINE_MAX, DistillError, one_line


def _import_argparse():
    """argparse, its phrases untranslated, as distill's own messages are. It imports gettext
    only to look them up in a "messages" catalogue no package installs: gettext's import
    compiles a regex and its first lookup imports locale and stats a dozen paths (~2 ms of
    every start together). argparse gets a stand-in for that one import; a later `import
    gettext` anywhere gets the real module."""
    if "argparse" in sys.modules or "gettext" in sys.modules:
        import argparse
    else:
        stand_in = type(sys)("gettext")
        stand_in.gettext = str
        stand_in.ngettext = lambda singular, plural, n: singular if n == 1 else plural
        sys.modules["gettext"] = stand_in
        try:
            import argparse
        finally:
            del sys.modules["gettext"]
    argparse._ = str
    return argparse


argparse = _import_argparse()

COMMANDS: dict[str, tuple] = {}   # name -> (handler, its argument specs)


def arg(*names, **kw) -> tuple:
    """One `add_argument` call, kept as data until the command is chosen."""
    return names, kw


def command(*specs, name: str | None = None):
    """Register a handler; its docstring's first line is the command's summary."""

    def register(fn):
        COMMANDS[name or fn.__name__] = (fn, specs)
        return fn

    return register


def repeatable(name: str) -> dict:
    return dict(action="append", default=[], dest=name)


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is below 1")
    return n


def existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a file")
    return text


def store_of(a):
    from distill.api import open_store

    return open_store(a.root)


INSECURE = arg("--insecure-registry", metavar="HOST", help="Use plain HTTP for this registry (loopback hosts always do).",
               **repeatable("insecure"))
PLATFORM = arg("--platform", help="os/arch[/variant] of an image of several platforms (default: this machine's).")


def reach_of(a):
    """How the analysers reach the image a command names (INSECURE, PLATFORM)."""
    from distill.api import Reach

    return Reach(tuple(a.insecure), getattr(a, "platform", None))


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DistillError(f"cannot read {what}{path}: {e.strerror}") from None


STAGE = arg("--stage", metavar="NAME", help="One of the build's stages (by name or index), through its build record.")


def write_report(path: str, page: str) -> None:
    """A report or SBOM to `path`; a name's bytes that are not UTF-8 (surrogates) written as
    their escape, which a JSON string reads back as the same character."""
    try:
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(page)
    except OSError as e:
        raise DistillError(f"{path}: {e.strerror}") from None


def print_json(value, indent: int = 2) -> None:
    import json  # a text report needs none of it (~1.5 ms of a start)

    print(json.dumps(value, indent=indent))


def print_json_items(items, indent: int = 2) -> None:
    """A JSON array written as its items come (the text json.dumps would make of their
    list, which is never held: `ls -R --json` of a million entries)."""
    import json

    pad = " " * indent
    out, first = sys.stdout, True
    for item in items:
        out.write("[\n" if first else ",\n")
        out.write("\n".join(pad + line for line in json.dumps(item, indent=indent).split("\n")))
        first = False
    out.write("[]\n" if first else "\n]\n")


def quick_exit(code: int, *alive) -> None:
    """Ends a command that holds no store lock or child any more: output flushed, the
    interpreter's teardown (freeing every object and module one by one: ~5 ms of a lint,
    15-40 ms of a build's context walk) skipped. `alive` stays referenced until then."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = 128 + 13
    except OSError:
        code = 1
    os._exit(code)


def error_line(error: str) -> str:
    """An error as its one line: a refusal shortened in the middle to LINE_MAX (a path
    5,000 directories deep), a failed step's lines of output kept, joined by " | "."""
    lines = error.splitlines() or [""]
    if len(lines) == 1:
        return one_line(lines[0], LINE_MAX - len("distill: error: "))
    return " | ".join(one_line(line, 10_000) for line in lines)


def refuse(e: DistillError, code: int | None = None):
    """Ends the command with its error as one line on standard error, exit `code` (the
    error's own by default)."""
    print("distill: error: " + error_line(str(e)), file=sys.stderr)
    sys.exit(code if code is not None else e.exit_code)
