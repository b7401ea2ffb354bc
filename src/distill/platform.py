"""Platforms (os/arch[/variant]) and choosing one from an image index."""

from __future__ import annotations

import os

from distill.errors import DistillError
from distill.record import Record

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


class Platform(Record):
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def as_dict(self) -> dict:
        d = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            d["variant"] = self.variant
        return d

    def matches(self, d: dict | None) -> bool:
        if not d:
            return False
        if d.get("os") != self.os or d.get("architecture") != self.architecture:
            return False
        return self.variant is None or d.get("variant") in (None, self.variant)


def host() -> Platform:
    machine = os.uname().machine  # the platform module costs 15 ms to import
    arch = _ARCH.get(machine, machine)
    return Platform("linux", arch, "v8" if arch == "arm64" else None)


def is_native(p: Platform) -> bool:
    """Can this machine build for `p`? A platform without a variant means any variant."""
    return p.matches(host().as_dict())


def parse(text: str | None) -> Platform:
    if not text:
        return host()
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise DistillError(f"invalid platform {text!r}: expected os/arch[/variant]")
    return Platform(*parts)


def choose(manifests: list[dict], want: Platform) -> dict:
    """The index entry for `want`; attestation entries (unknown/unknown) never match."""
    candidates = [m for m in manifests if want.matches(m.get("platform"))]
    if not candidates:
        have = ", ".join(str(Platform(**{k: v for k, v in m["platform"].items() if k in ("os", "architecture", "variant")}))
                         for m in manifests if isinstance(m.get("platform"), dict) and "os" in m["platform"] and "architecture" in m["platform"])
        raise DistillError(f"no image for platform {want} (available: {have or 'none'})")
    exact = [m for m in candidates if m["platform"].get("variant") == want.variant]
    return (exact or candidates)[0]
