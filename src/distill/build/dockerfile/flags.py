"""Instruction flags (`--name=value`, `--name`), validated per instruction as BuildKit does."""

from __future__ import annotations

from distill.errors import DockerfileError
from distill.record import Record

BOOL, STRING, LIST = "bool", "string", "list"


class FlagSpec(Record):
    kind: str
    default: object = None


def parse_flags(raw: list[str], spec: dict[str, FlagSpec], instruction: str) -> dict[str, object]:
    values: dict[str, object] = {name: ([] if f.kind == LIST else f.default) for name, f in spec.items()}
    seen: set[str] = set()
    for item in raw:
        if not item.startswith("--"):
            raise DockerfileError(f"{instruction}: invalid flag {item!r}")
        name, has_value, value = item[2:].partition("=")
        f = spec.get(name)
        if f is None:
            known = ", ".join(f"--{k}" for k in spec) or "none"
            raise DockerfileError(f"unknown flag: --{name} for {instruction} (allowed: {known})")
        if name in seen and f.kind != LIST:
            raise DockerfileError(f"duplicate flag specified: --{name}")
        seen.add(name)
        if f.kind == BOOL:
            if not has_value:
                values[name] = True
            elif value.lower() in ("true", "false"):
                values[name] = value.lower() == "true"
            else:
                raise DockerfileError(f"expecting boolean value for flag --{name}, not: {value}")
        else:
            if not has_value:
                raise DockerfileError(f"missing a value on flag: --{name}")
            if f.kind == LIST:
                values[name].append(value)
            else:
                values[name] = value
    return values
