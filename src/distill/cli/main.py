"""The `distill` command. Thin: parse flags, call distill.api, print.

Flags are parsed with argparse, and only the chosen command's parser is made: a start
pays ~1 ms for its command line. Everything else is imported by the command that needs it.
"""

from __future__ import annotations

import gc
import os
import sys

# A build holds tens of thousands of long-lived objects (a few per context file); at the
# default threshold (700) the collector scans them hundreds of times, ~0.1 s of a
# 20,000-file edit rebuild. Set before the imports, which allocate enough to run it ~1 ms
# of every start. Cycles are rare here and the process is short.
gc.set_threshold(50_000, 20, 100)

from distill.cli.commands import COMMANDS, argparse, refuse  # noqa: E402
from distill.errors import DistillError

# Each group's module and its commands, in the order `distill --help` lists them: a command
# line imports only its command's group (importing one registers its commands), help all
# of them (tests/unit/test_cli.py holds this table to what the groups register).
GROUPS = {
    "images": ("pull", "push", "images", "inspect", "history", "tag", "rmi", "import", "save", "load", "prune",
               "bootstrap"),
    "files": ("ls", "export"),
    "analyze": ("lint", "check", "size", "compare", "sbom", "fsck", "db", "scan", "report"),
    "build": ("parse", "build"),
    "containers": ("run", "stop", "logs", "ps", "rm", "binfmt"),
}
NAMES = [name for names in GROUPS.values() for name in names]
# commands that never touch the store: the others run, for a user other than root, as
# root of its own user namespace (build/runtime/userns.py)
OUTSIDE_THE_STORE = {"lint", "parse", "binfmt"}


def load_groups(names) -> None:
    """Registers the commands `names` (by importing their groups)."""
    import importlib

    for group, commands in GROUPS.items():
        if any(n in commands for n in names):
            importlib.import_module(f"distill.cli.{group}")


def _command_in(argv: list[str]) -> str | None:
    """The command a command line names, if it names one before any other option."""
    i = 0
    while i < len(argv):
        if argv[i] == "--root":
            i += 2
        elif argv[i].startswith("--root="):
            i += 1
        else:
            return None if argv[i].startswith("-") else argv[i]
    return None


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse makes a formatter for every add_argument; its own learns the terminal's
    width through shutil, whose import (bz2 and lzma behind it) is ~3 ms of a start."""

    def __init__(self, prog, **kw):
        try:
            width = int(os.environ.get("COLUMNS") or 0) or os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            width = 80
        super().__init__(prog, width=width - 2, **kw)


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kw):
        # a flag is spelled in full, as docker's: an abbreviation would change meaning the
        # day a second flag shares its prefix
        super().__init__(allow_abbrev=False, formatter_class=_Formatter, **kw)

    def error(self, message):
        # one line, as every other error; the usage is a --help away
        sys.stderr.write(f"{self.prog}: error: {message}{self._suggestion(message)} (see '{self.prog} --help')\n")
        sys.exit(2)

    def _suggestion(self, message: str) -> str:
        """'; did you mean --no-cache?' for a misspelt flag."""
        from distill.api import did_you_mean

        if not message.startswith("unrecognized arguments: "):
            return ""
        flags = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        words = [w for w in message.split(": ", 1)[1].split() if w.startswith("-")]
        return next((hint for w in words if (hint := did_you_mean(w.split("=")[0], flags))), "")


class _Version(argparse.Action):
    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, help="Print the version and exit.")

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import version

        print(f"distill {version('distill')}")
        parser.exit()


def summary(doc: str | None) -> str:
    """A command's help, its first sentence: whole, however its docstring wraps."""
    import re

    text = " ".join((doc or "").split())
    end = re.search(r"[.?!](\s|$)", text)
    return text[:end.start() + 1] if end else text


def described(doc: str | None) -> str:
    """A docstring as help text: its lines after the first without their indentation
    (textwrap's dedent would cost a command's start 0.7 ms)."""
    first, *rest = (doc or "").splitlines()
    indent = min((len(l) - len(l.lstrip()) for l in rest if l.strip()), default=0)
    return "\n".join([first.strip()] + [l[indent:] for l in rest]).strip()


class _TopParser(_Parser):
    def format_help(self) -> str:
        """The commands' list, made only when help is shown."""
        import textwrap

        summaries = "\n".join(textwrap.fill(summary(COMMANDS[name][0].__doc__), 100, initial_indent=f"  {name:<10} ",
                                             subsequent_indent=" " * 13) for name in NAMES if name in COMMANDS)
        self.epilog = f"commands:\n{summaries}\n\n'distill COMMAND --help' tells a command's flags."
        return super().format_help()


def _top_parser() -> _Parser:
    p = _TopParser(prog="distill",
                   description="distill: a daemonless multi-stage container image builder and analyser.")
    p.add_argument("--root", default=os.environ.get("DISTILL_ROOT"), metavar="DIR",
                   help="Store directory (default /var/lib/distill as root, ~/.local/share/distill otherwise; "
                        "also DISTILL_ROOT).")
    p.add_argument("--version", action=_Version)
    p.add_argument("command", nargs="?", choices=NAMES, metavar="COMMAND", help="one of the commands below")
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def parse_command(argv: list[str]):
    """The handler a command line names, and its flags. Usage errors exit 2 with one line."""
    name = _command_in(argv)
    load_groups([name] if name in NAMES else NAMES)  # help, or an error, names them all
    parser = _top_parser()
    top = parser.parse_args(argv)
    if top.command is None:
        parser.print_help(sys.stderr)
        sys.exit(2)
    handler, specs = COMMANDS[top.command]
    p = _Parser(prog=f"distill {top.command}", description=described(handler.__doc__))
    for names, kw in specs:
        p.add_argument(*names, **kw)
    a = p.parse_args(top.args)
    a.root = top.root
    if top.command not in OUTSIDE_THE_STORE:
        _enter_user_namespace(top.command, a)
    return handler, a


def _enter_user_namespace(command: str, a) -> None:
    """A user other than root, or root without CAP_SYS_ADMIN, works as root of a user
    namespace of its own (build/runtime/userns.py). Where none can be made, root builds
    with RUN chrooted; a user's build and run stop; the other commands read and write
    the store as they are."""
    from distill.api import become_root, needs_user_namespace

    if not needs_user_namespace():
        return
    try:
        if become_root(a.root) == "single" and command in ("build", "run"):
            sys.stderr.write("distill: note: no subordinate ids for this user (in /etc/subuid and /etc/subgid, "
                             "mapped by newuidmap from Debian's uidmap): only root maps in its user namespace, "
                             "so a RUN cannot make files owned by another id\n")
    except DistillError as e:
        if command == "build" and os.geteuid() == 0:
            from distill.api import CHROOT_ENV

            os.environ[CHROOT_ENV] = "1"  # RUN chrooted, as Kaniko's (build/runtime/chroot.py)
        elif command in ("build", "run"):
            refuse(e, 1)
    a.root = os.environ["DISTILL_ROOT"]


def main(argv: list[str] | None = None) -> None:
    handler, a = parse_command(sys.argv[1:] if argv is None else argv)
    try:
        handler(a)
    except DistillError as e:
        refuse(e)
    except KeyboardInterrupt as e:  # Ctrl-C (SIGINT), or errors.Interrupted by another signal
        print("distill: interrupted", file=sys.stderr)
        sys.exit(128 + getattr(e, "signum", 2))
    except BrokenPipeError:  # the reader went (`distill inspect X | head -1`): end quietly, as coreutils
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        sys.exit(128 + 13)
    except OSError as e:
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        refuse(DistillError(f"{e.strerror or e}{where}"))


if __name__ == "__main__":
    main()
