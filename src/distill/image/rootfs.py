"""Images made from a root filesystem: a tar imported as one layer (`distill import`), or
a Debian tree made by mmdebstrap from the Debian archive (`distill bootstrap`)."""

from __future__ import annotations

import io

from distill import platform as platforms
from distill.config import new_config
from distill.errors import DistillError
from distill.fs.files import Prefixed
from distill.image.oci import reference
from distill.image.store.images import store_name, write_image


def import_rootfs(store, stream, name: str | None, platform: str | None = None,
                  created_by: str = "distill import", env: list[str] | None = None,
                  cmd: list[str] | None = None, comment: str | None = None) -> dict:
    """A root filesystem tar (optionally compressed) becomes a one-layer image."""
    from distill.image.layers.blob import import_tar
    from distill.image.layers.compress import decompressed, sniff

    plat = platforms.parse(platform)
    with store.writing():
        head = _read_some(stream, 4)
        layer = import_tar(store, decompressed(io.BufferedReader(Prefixed(head, stream), 1 << 20), sniff(head)))
        config = new_config(plat, [layer.diff_id], created_by, comment, env, cmd)
        desc = write_image(store, config, [layer.descriptor])
        if name:
            store.set_tag(store_name(name), desc)
    return desc


def _read_some(stream, n: int) -> bytes:
    data = b""
    while len(data) < n and (chunk := stream.read(n - len(data))):
        data += chunk
    return data


def bootstrap(store, name: str, suite: str = "bookworm", variant: str = "minbase",
              include: list[str] | None = None, mirror: str | None = None, platform: str | None = None,
              log=None, arch: str | None = None) -> dict:
    """A Debian base image from the Debian archive, made by mmdebstrap, for `platform` or
    the Debian architecture `arch`. A name that holds images of other platforms comes to
    hold an index of them and this one."""
    plat = platforms.parse(platform_of_debian_arch(arch) if arch else platform)
    ref = reference.parse(name)  # fail on a bad name before spending half a minute
    cmd = ["mmdebstrap", f"--variant={variant}", "--format=tar", f"--architectures={debian_arch(plat)}", "--quiet"]
    if include:
        cmd.append("--include=" + ",".join(include))
    cmd += [suite, "-"]
    if mirror:
        cmd.append(mirror)
    import subprocess

    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise DistillError("mmdebstrap is not installed (apt-get install mmdebstrap)") from None
    created_by = " ".join(["distill bootstrap", suite, f"--variant {variant}"] +
                          ([f"--include {','.join(include)}"] if include else []))
    import threading

    err: list[bytes] = []
    t = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    t.start()
    try:
        desc = import_rootfs(store, proc.stdout, None, str(plat), created_by=created_by, cmd=["bash"],
                             comment=f"debian {suite} {variant}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    rc = proc.wait()
    t.join()
    if rc != 0:
        tail = (err[0] if err else b"").decode(errors="replace").strip().splitlines()[-3:]
        raise DistillError(f"mmdebstrap failed (exit {rc}): {' | '.join(tail)}")
    store.set_tag(str(ref), with_other_platforms(store, str(ref), desc, plat))
    return desc


# OCI platform (architecture[/variant]) <-> Debian architecture, where the names differ
DEBIAN_ARCH = {"arm/v7": "armhf", "arm/v5": "armel", "386": "i386", "ppc64le": "ppc64el", "mips64le": "mips64el"}


def debian_arch(plat) -> str:
    key = f"{plat.architecture}/{plat.variant}" if plat.variant and plat.architecture == "arm" else plat.architecture
    return DEBIAN_ARCH.get(key, DEBIAN_ARCH.get(plat.architecture, plat.architecture))


def platform_of_debian_arch(arch: str) -> str:
    """`linux/…` for a Debian architecture name (arm64, armhf, i386, ...)."""
    oci = {v: k for k, v in DEBIAN_ARCH.items()}.get(arch, arch)
    return f"linux/{oci}"


def with_other_platforms(store, name: str, desc: dict, plat) -> dict:
    """What `name` should hold once `desc` (an image of `plat`) is made for it: an index
    of it and the images of other platforms the name held, or `desc` alone."""
    from distill.image.oci.mediatypes import INDEXES
    from distill.image.store.images import from_descriptor, write_index

    held = store.get_tag(name)
    if held is None:
        return desc
    members = store.read_json(held["digest"]).get("manifests") if held.get("mediaType") in INDEXES else None
    if members is None:
        config = from_descriptor(store, held).config
        members = [{**held, "platform": {k: config[k] for k in ("os", "architecture", "variant") if config.get(k)}}]
    others = [(m, m["platform"]) for m in members if isinstance(m.get("platform"), dict) and not plat.matches(
        m["platform"]) and store.has_blob(m["digest"])]
    return write_index(store, others + [(desc, plat.as_dict())]) if others else desc
