"""Lint with the facts around a Dockerfile: the configuration found beside it, in the
context or here; the context's files; the base images' ENV and platform the store knows;
and the formats findings are written in. The I/O seam of lint/, which is pure."""

from __future__ import annotations

import os


def lint_text(text: bytes, path: str, context: str | None, target: str | None = None, ignore: tuple[str, ...] = (),
              shellcheck: bool = True, built_only: bool = False, store=None,
              parsed=None) -> list[dict]:
    """A Dockerfile's lint findings (lint/): [{rule, aliases, severity, line, column,
    message, file}], by line, with the configuration lint_config() finds; `context`, when
    given, adds the context's rules, `store` tells the base images' ENV and platform;
    `parsed`, the text's syntax tree when the caller has it. ShellCheck starts first: the
    configuration, the context and the store are read while it runs."""
    from distill.analyze.lint import Options, base_facts, context_facts, finish, prepare
    from distill.platform import host

    prepared = prepare(text, path, shellcheck, parsed)
    config = lint_config(path, context)
    facts = context_facts(context, path) if context and os.path.isdir(context) else None
    bases = base_facts(store, prepared.result.nodes) if store is not None else None
    return finish(prepared, Options(target, tuple(ignore) + tuple(config["ignore"]), facts, config["override"],
                                    config["trusted"], built_only, bases, f"linux/{host().architecture}",
                                    config["labels"], config["strict_labels"], config["pragmas"]))


def build_lint(options, store=None) -> list[dict]:
    """The warnings a build prints, as BuildKit does: lint's errors and warnings about the
    stages it builds (no ShellCheck: a build should not wait for it), from the syntax
    tree the build planned from (build_options())."""
    findings = lint_text(options.dockerfile, options.dockerfile_path, options.context, options.target,
                         shellcheck=False, built_only=True, store=store, parsed=options.syntax())
    return [f for f in findings if f["severity"] in ("error", "warning") and f["rule"] != "empty-continuation"]


def lint_config(dockerfile: str | None, context: str | None = ".") -> dict:
    """The lint configuration found beside the Dockerfile, in the context or here
    (.hadolint.yaml, pyproject.toml's [tool.distill.lint], .distill.toml; lint/config.py)."""
    path = dockerfile or os.path.join(context or ".", "Dockerfile")
    return _lint_config(tuple([os.path.dirname(path) or "."] + ([context] if context else []) + ["."]))


_lint_configs: dict = {}


def _lint_config(dirs: tuple[str, ...]) -> dict:
    """The configuration of these directories, read again only when one of its files
    changed (lint and the command line's threshold both ask)."""
    from distill.analyze.lint.config import NAMES, load

    key = (dirs, tuple(_mtime(os.path.join(d, n)) for d in dirs for n in NAMES))
    if key not in _lint_configs:
        _lint_configs[key] = load(list(dirs))
    return _lint_configs[key]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def lint_format(findings: list[dict], fmt: str, path: str) -> str:
    """Lint findings as sarif, checkstyle, gitlab (code quality) or junit text."""
    from distill.analyze.lint.formats import FORMATS, as_junit

    return as_junit(findings, path) if fmt == "junit" else FORMATS[fmt](findings)


def lint_source_line(text: bytes, line: int) -> str:
    """One line of a Dockerfile's text (for showing a finding), or ""."""
    lines = text.split(b"\n", line)
    return lines[line - 1].decode("utf-8", "replace").rstrip("\r") if 0 < line <= len(lines) else ""


def record_lint(record: dict) -> list | None:
    """Lint findings of the Dockerfile a build record names, if it is there unchanged."""
    from distill.digest import of_bytes

    path = (record.get("dockerfile") or {}).get("path")
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        text = f.read()
    if of_bytes(text) != record["dockerfile"].get("digest"):
        return None
    return lint_text(text, path, record.get("context"), None, shellcheck=False)
