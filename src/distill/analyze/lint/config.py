"""Lint configuration, from the files users already have: hadolint's `.hadolint.yaml`
(ignored, override, failure-threshold, trustedRegistries, label-schema, strict-labels,
disable-ignore-pragma) and distill's own `[tool.distill.lint]` in pyproject.toml or
`[lint]` in .distill.toml (ignore, override, failure-threshold, trusted-registries and
the same label and pragma keys). Looked for beside the Dockerfile, in the context,
then in the working directory; the first file found of each kind counts."""

from __future__ import annotations

import os

from distill.errors import DistillError
from distill.analyze.lint.rules import SEVERITIES


NAMES = (".hadolint.yaml", ".hadolint.yml", "pyproject.toml", ".distill.toml")  # the files read, in order


def load(dirs: list[str]) -> dict:
    """{"ignore": set, "override": {rule or alias: severity}, "threshold": str | None,
    "trusted": [registry] | None, "labels": {label: type}, "strict_labels": bool,
    "pragmas": bool (honour inline ignore comments), "files": [paths read]}."""
    out = {"ignore": set(), "override": {}, "threshold": None, "trusted": None, "labels": {},
           "strict_labels": False, "pragmas": True, "files": []}
    seen = []
    for d in dict.fromkeys(os.path.abspath(d) for d in dirs):
        seen.append(d)
    for name, reader in zip(NAMES, (_hadolint, _hadolint, _pyproject, _distill)):
        for d in seen:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                section = reader(path)
                if section is not None:
                    _merge(out, section, path)
                    out["files"].append(path)
                break
    return out


def _merge(out: dict, section: dict, path: str) -> None:
    def names(key):
        value = section.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DistillError(f"{path}: {key} must be a list of rule names")
        return value

    out["ignore"] |= set(names("ignored")) | set(names("ignore"))
    override = section.get("override") or {}
    if not isinstance(override, dict):
        raise DistillError(f"{path}: override must map a severity to a list of rules")
    for severity, rules in override.items():
        if severity not in SEVERITIES:
            raise DistillError(f"{path}: override: unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
        if not isinstance(rules, list):
            raise DistillError(f"{path}: override.{severity} must be a list of rules")
        for r in rules:
            out["override"][str(r)] = severity
    threshold = section.get("failure-threshold")
    if threshold is not None:
        if threshold not in SEVERITIES + ("none",):
            raise DistillError(f"{path}: failure-threshold must be one of {', '.join(SEVERITIES)}, none")
        out["threshold"] = threshold
    trusted = section.get("trustedRegistries", section.get("trusted-registries"))
    if trusted is not None:
        out["trusted"] = [str(t) for t in trusted] if isinstance(trusted, list) else None
    schema = section.get("label-schema")
    if schema is not None:
        from distill.analyze.lint.labels import TYPES

        if not isinstance(schema, dict):
            raise DistillError(f"{path}: label-schema must map label names to types")
        for label, kind in schema.items():
            if kind not in TYPES:
                raise DistillError(f"{path}: label-schema.{label}: unknown type {kind!r} (one of {', '.join(TYPES)})")
            out["labels"][str(label)] = kind
    for key, field, flip in (("strict-labels", "strict_labels", False), ("disable-ignore-pragma", "pragmas", True)):
        value = section.get(key)
        if value is not None:
            if not isinstance(value, bool):
                raise DistillError(f"{path}: {key} must be true or false")
            out[field] = value != flip


def _hadolint(path: str) -> dict | None:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise DistillError(f"{path}: {str(e).splitlines()[0]}") from None
    return doc if isinstance(doc, dict) else None


def _toml(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DistillError(f"{path}: {e}") from None


def _pyproject(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            if b"tool.distill" not in f.read(1 << 20):  # most projects' pyproject has no section of ours:
                return None  # not parsed (tomllib and typing cost 5 ms of a 30 ms lint)
    except OSError as e:
        raise DistillError(f"{path}: {e.strerror}") from None
    return ((_toml(path).get("tool") or {}).get("distill") or {}).get("lint")


def _distill(path: str) -> dict | None:
    return _toml(path).get("lint")
