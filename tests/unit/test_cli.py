"""The command line's parsing: flags as docker's, usage errors as one line and exit 2."""

import subprocess
import sys

import re

import pytest

from distill.cli.commands import COMMANDS
from distill.cli.main import GROUPS, NAMES, load_groups, parse_command


def usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        parse_command(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    return err


def test_build_flags_repeat_and_default():
    handler, a = parse_command(["--root", "/r", "build", "-t", "a:1", "--tag", "b:2", "--build-arg", "X=1",
                                "--build-arg", "Y", "-q", "--jobs", "3", "--network", "none", "ctx"])
    assert handler is COMMANDS["build"][0]
    assert (a.root, a.context, a.tags, a.build_args, a.quiet, a.jobs, a.network) == \
        ("/r", "ctx", ["a:1", "b:2"], ["X=1", "Y"], True, 3, "none")
    _, a = parse_command(["build"])
    assert (a.context, a.tags, a.outputs, a.jobs, a.network, a.progress_mode) == (".", [], [], None, "default", "auto")


def test_root_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DISTILL_ROOT", "/from/env")
    assert parse_command(["images"])[1].root == "/from/env"
    assert parse_command(["--root", "/flag", "images"])[1].root == "/flag"


def test_run_leaves_everything_after_the_image_to_the_command():
    _, a = parse_command(["run", "-it", "--rm", "-e", "A=1", "-e", "B=2", "img:1", "sh", "-c", "echo", "--help", "-e"])
    assert (a.interactive, a.tty, a.rm, a.env, a.image) == (True, True, True, ["A=1", "B=2"], "img:1")
    assert a.command == ["sh", "-c", "echo", "--help", "-e"]
    assert parse_command(["run", "img:1"])[1].command == []


@pytest.mark.parametrize("argv, says", [
    (["build", "--bogus"], "distill build: error: unrecognized arguments: --bogus (see 'distill build --help')"),
    (["build", "--no-c"], "distill build: error: unrecognized arguments: --no-c"),
    (["build", "--no-cahce"], "distill build: error: unrecognized arguments: --no-cahce; did you mean --no-cache? "),
    (["build", "--platfrom=linux/arm64"], "distill build: error: unrecognized arguments: --platfrom=linux/arm64; did "
                                          "you mean --platform? "),
    (["build", "--jobs", "0"], "distill build: error: argument --jobs: 0 is below 1"),
    (["build", "--jobs", "two"], "distill build: error: argument --jobs: 'two' is not a whole number"),
    (["build", "--progress", "fancy"], "distill build: error: argument --progress: invalid choice: 'fancy'"),
    (["frobnicate"], "distill: error: argument COMMAND: invalid choice: 'frobnicate'"),
    (["rmi"], "distill rmi: error: the following arguments are required: refs"),
    (["load", "-i", "/nonexistent/archive.tar"], "distill load: error: argument -i/--input: '/nonexistent/archive.tar' is not a file"),
])
def test_usage_errors_are_one_line(capsys, argv, says):
    err = usage_error(capsys, argv)
    assert err.startswith(says) and err.count("\n") == 1


def test_no_command_prints_the_commands(capsys):
    err = usage_error(capsys, [])
    from distill.cli.main import summary

    flat = " ".join(err.split())
    for name, (fn, _) in COMMANDS.items():
        assert f"{name} {summary(fn.__doc__)}" in flat


def test_the_group_table_is_what_the_groups_register():
    """main's table of groups (a command line imports only its group) names every command
    each group module registers, in the order help lists them."""
    load_groups(NAMES)
    for group, names in GROUPS.items():
        registered = [n for n, (fn, _) in COMMANDS.items() if fn.__module__ == f"distill.cli.{group}"]
        assert registered == list(names), group
    assert sorted(COMMANDS) == sorted(NAMES)  # and no command outside the table


def test_a_command_line_loads_only_its_group():
    code = ("import sys\nfrom distill.cli.main import parse_command\nparse_command(['tag', 'a', 'b'])\n"
            "print(sorted(m for m in sys.modules if m.startswith('distill.cli.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "['distill.cli.commands', 'distill.cli.images', 'distill.cli.main']"


def test_command_help_lists_its_flags(capsys):
    with pytest.raises(SystemExit) as e:
        parse_command(["build", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: distill build") and "--build-arg KEY=VALUE" in out and "--jobs N" in out


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        parse_command(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"distill {version('distill')}\n"


def test_argparse_loads_without_gettext_and_leaves_it_whole():
    """The stand-in gettext argparse imports is gone once it has: a later import gets the
    real module."""
    code = ("import sys, distill.cli.main; loaded = 'gettext' in sys.modules; import gettext; "
            "print(loaded, hasattr(gettext, 'translation'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_command_summaries_are_whole_sentences_and_help_is_not_indented(capsys):
    from distill.cli.main import COMMANDS, NAMES, load_groups, parse_command

    load_groups(NAMES)
    with pytest.raises(SystemExit):
        parse_command(["--help"])
    listing = capsys.readouterr().out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"\n  (?=\S)", listing.strip())
    assert len(entries) == len(NAMES)
    for entry in entries:
        assert " ".join(entry.split()).endswith((".", "?", "!", ")")), entry
    for name in NAMES:
        with pytest.raises(SystemExit):
            parse_command([name, "--help"])
        text = capsys.readouterr().out
        description = text.split("\n\n", 2)[1]
        assert not any(line.startswith("    ") for line in description.splitlines()), (name, description)
