"""Running another architecture's programs (RUN for a foreign --platform) under QEMU user
emulation, as BuildKit does with tonistiigi/binfmt: the kernel's binfmt_misc hands a
foreign ELF to the emulator named for its ELF header. The emulators and their headers are
Debian's qemu-user-static (its /usr/share/binfmts/qemu-* files, read as data); they are
registered only when asked (`distill binfmt --install`), with the F flag, so the kernel
opens the emulator at registration and a program started in a container or a chroot,
where no emulator is on disk, runs too."""

from __future__ import annotations

import os

from distill.errors import DistillError
from distill.platform import Platform

BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
DEFINITIONS = "/usr/share/binfmts"

# OCI architecture -> QEMU's name for it (the suffix of Debian's definition files)
QEMU_NAMES = {"arm64": "aarch64", "arm": "arm", "amd64": "x86_64", "386": "i386", "ppc64le": "ppc64le",
              "s390x": "s390x", "riscv64": "riscv64", "mips64le": "mips64el", "loong64": "loongarch64"}
INSTALL_HINT = "distill binfmt --install (QEMU emulators from Debian's qemu-user-static)"


def parse_definition(text: str) -> dict[str, str]:
    """A binfmt-support definition (`key value` lines) as a dict."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out


def registration(name: str, d: dict[str, str]) -> str:
    """The line binfmt_misc's `register` takes for a definition: magic type, with the F
    flag always (the emulator opened now), P and C as the definition says."""
    for key in ("interpreter", "magic"):
        if not d.get(key):
            raise DistillError(f"{DEFINITIONS}/{name}: no {key}")
    flags = "F" + ("P" if d.get("preserve") == "yes" else "") + ("C" if d.get("credentials") == "yes" else "")
    return f":{name}:M:{d.get('offset', '0')}:{d['magic']}:{d.get('mask', '')}:{d['interpreter']}:{flags}"


def qemu_name(architecture: str) -> str:
    return f"qemu-{QEMU_NAMES.get(architecture, architecture)}"


def available() -> dict[str, str]:
    """OCI architecture -> the definition file Debian's qemu-user-static installed."""
    out = {}
    for arch in QEMU_NAMES:
        path = os.path.join(DEFINITIONS, qemu_name(arch))
        if os.path.isfile(path):
            out[arch] = path
    return out


_REMEMBERED: dict | None = None  # the entries seen before this process's /proc was replaced


def remember() -> None:
    """Read the emulators' entries while binfmt_misc is visible: a build's or run's own
    PID namespace gets a new /proc (runtime/isolation.py) without it, though the kernel
    still runs what is registered."""
    global _REMEMBERED
    if _mounted():
        _REMEMBERED = {n: status(n) for n in os.listdir(BINFMT_DIR) if n.startswith("qemu-")}


def status(name: str) -> dict[str, str] | None:
    """What binfmt_misc holds for an entry (enabled, interpreter, flags), or None."""
    if _REMEMBERED is not None and not _mounted():
        return _REMEMBERED.get(name)
    try:
        with open(os.path.join(BINFMT_DIR, name), encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 16)
    except OSError:
        return None
    out = {"enabled": "enabled" if text.startswith("enabled") else "disabled"}
    for line in text.splitlines()[1:]:
        key, _, value = line.partition(" ")
        out[key.rstrip(":")] = value.strip()
    return out


def can_run(platform: Platform) -> bool:
    """Whether this machine runs the platform's programs: natively, or by an emulator
    binfmt_misc has enabled."""
    from distill.platform import is_native

    if is_native(platform):
        return True
    st = status(qemu_name(platform.architecture))
    return st is not None and st["enabled"] == "enabled"


def require(platform: Platform) -> None:
    if not can_run(platform):
        raise DistillError(f"running programs of {platform} needs an emulator, which this machine has not "
                           f"registered: {INSTALL_HINT}")


def require_for(config: dict) -> None:
    """require() for the platform an image config names (this machine's when it names none)."""
    from distill.platform import host

    arch = config.get("architecture")
    if isinstance(arch, str) and arch:
        require(Platform(config.get("os") if isinstance(config.get("os"), str) else "linux", arch,
                         config.get("variant") if isinstance(config.get("variant"), str) else None))
    else:
        require(host())


def _mounted() -> bool:
    return os.path.exists(os.path.join(BINFMT_DIR, "register"))


def install(architectures: list[str] | None = None) -> list[str]:
    """Registers the emulators of `architectures` (all Debian's qemu-user-static has but
    this machine's own, by default), mounting binfmt_misc first where it is not; an entry
    registered already is left as it is. Returns the names registered now."""
    import subprocess

    from distill.platform import host

    defs = available()
    if not defs:
        raise DistillError(f"no QEMU emulators in {DEFINITIONS}: install Debian's qemu-user-static")
    wanted = architectures or [a for a in defs if a != host().architecture and not (host().architecture == "amd64"
                                                                                    and a == "386")]
    missing = [a for a in wanted if a not in defs]
    if missing:
        raise DistillError(f"no emulator for {', '.join(missing)} (qemu-user-static has {', '.join(sorted(defs))})")
    if not _mounted():
        r = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR], capture_output=True, text=True)
        if r.returncode != 0:
            raise DistillError(f"cannot mount binfmt_misc on {BINFMT_DIR}: {r.stderr.strip() or r.returncode} "
                               "(root on the machine is needed, not in a container)")
    done = []
    for arch in wanted:
        name = qemu_name(arch)
        if status(name) is not None:
            continue
        with open(defs[arch], encoding="utf-8") as f:
            line = registration(name, parse_definition(f.read(1 << 16)))
        try:
            with open(os.path.join(BINFMT_DIR, "register"), "w") as f:
                f.write(line)
        except OSError as e:
            raise DistillError(f"cannot register {name}: {e.strerror}") from None
        done.append(name)
    return done


def uninstall(architectures: list[str] | None = None) -> list[str]:
    """Removes the emulators' entries (all distill's names by default)."""
    done = []
    for arch in architectures or list(QEMU_NAMES):
        name = qemu_name(arch)
        if status(name) is None:
            continue
        try:
            with open(os.path.join(BINFMT_DIR, name), "w") as f:
                f.write("-1")
        except OSError as e:
            raise DistillError(f"cannot remove {name}: {e.strerror}") from None
        done.append(name)
    return done


def command(install_them: bool = False, remove_them: bool = False,
            architectures: list[str] | None = None) -> tuple[list[str], list[tuple[str, str, str]]]:
    """`distill binfmt`: (entries registered or removed now, a row per architecture
    qemu-user-static has: architecture, what binfmt_misc holds for it, its flags)."""
    from distill.platform import Platform, is_native

    if install_them and remove_them:
        raise DistillError("--install and --uninstall: choose one")
    changed = install(architectures) if install_them else uninstall(architectures) if remove_them else []
    rows = []
    for arch in sorted(set(available()) | set(architectures or [])):
        st = status(qemu_name(arch))
        state = "native" if is_native(Platform("linux", arch)) else st["enabled"] if st else "not registered"
        rows.append((arch, state, st.get("flags", "") if st else ""))
    return changed, rows
