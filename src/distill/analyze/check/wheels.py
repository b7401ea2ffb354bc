"""Can an installed wheel run here? Its WHEEL file's `Tag:` lines against the image's
Python (cpXY, abi3) and C library (manylinux_X_Y needs glibc ≥ X.Y, PEP 600;
musllinux_X_Y musl ≥ X.Y, PEP 656). Pure."""

from __future__ import annotations

import re

_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_PLATFORM = re.compile(r"(?P<kind>manylinux|musllinux)_(?P<x>\d+)_(?P<y>\d+)_(?P<arch>.+)")
ARCH = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}


def wheel_tags(text: str) -> list[str]:
    """The tags a WHEEL file lists, compressed sets expanded (`cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`
    is two)."""
    from packaging.tags import parse_tag

    out: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "tag" and value.strip():
            try:
                out.extend(str(t) for t in sorted(parse_tag(value.strip()), key=str))
            except ValueError:
                continue
    return out


def why_not(tags: list[str], python: tuple[int, int], libc: tuple[str, tuple[int, int]] | None,
            arch: str) -> str | None:
    """None when one of `tags` runs on this Python, libc and architecture (a wheel without
    tags is taken as fine); else why the first tag cannot."""
    reasons = []
    for tag in tags:
        interpreter, _, rest = tag.partition("-")
        abi, _, platform = rest.partition("-")
        reason = _python_reason(interpreter, abi, python) or _platform_reason(platform, libc, arch)
        if reason is None:
            return None
        reasons.append(f"{tag}: {reason}")
    return reasons[0] if reasons else None


def _python_reason(interpreter: str, abi: str, python: tuple[int, int]) -> str | None:
    here = f"cp{python[0]}{python[1]}"
    m = re.fullmatch(r"(py|cp)(\d)(\d*)", interpreter)
    if m is None:
        return f"built for another Python implementation ({interpreter}); this is CPython {python[0]}.{python[1]}"
    major, minor = int(m.group(2)), int(m.group(3)) if m.group(3) else None
    if major != python[0] or (minor is not None and minor > python[1]):
        return f"built for Python {major}{'.' + str(minor) if minor is not None else ''}; the image has " \
               f"{python[0]}.{python[1]}"
    if abi == "abi3" or abi == "none":
        if m.group(1) == "cp" and abi == "none" and minor is not None and minor != python[1]:
            return f"built for CPython {major}.{minor} only; the image has {python[0]}.{python[1]}"
        return None
    if not abi.startswith(here) or (m.group(1) == "cp" and minor != python[1]):
        return f"its extension modules are built for CPython's {abi} ABI; the image has {python[0]}.{python[1]} " \
               f"({here}): Python will not load them"
    return None


def _platform_reason(platform: str, libc: tuple[str, tuple[int, int]] | None, arch: str) -> str | None:
    if platform == "any":
        return None
    for legacy, version in _LEGACY.items():
        if platform.startswith(legacy + "_"):
            platform = f"manylinux_{version[0]}_{version[1]}_{platform[len(legacy) + 1:]}"
    if platform.startswith("linux_"):
        wanted = platform[len("linux_"):]
        return None if wanted == arch else f"built for {wanted}; the image is {arch}"
    m = _PLATFORM.fullmatch(platform)
    if m is None:
        return f"built for another platform ({platform})"
    if m["arch"] != arch:
        return f"built for {m['arch']}; the image is {arch}"
    need = (int(m["x"]), int(m["y"]))
    kind = "glibc" if m["kind"] == "manylinux" else "musl"
    if libc is None:
        return f"needs {kind} {need[0]}.{need[1]}; the image's C library was not found"
    if libc[0] != kind:
        return f"built for {kind} ({m['kind']}); the image's C library is {libc[0]}"
    if need > libc[1]:
        return f"needs {kind} ≥ {need[0]}.{need[1]}; the image has {kind} {libc[1][0]}.{libc[1][1]}"
    return None
