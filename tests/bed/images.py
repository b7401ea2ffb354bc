"""Base images for tests: busybox in seconds, a bootstrapped Debian Python base cached."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

from distill.api import bootstrap, import_rootfs
from distill.image.store.images import lookup
from distill.image.layers.create import write_tree
from distill.image.store import Store

BUSYBOX = "/bin/busybox"
CACHE = Path(os.environ.get("DISTILL_TEST_CACHE", "/var/cache/distill-tests"))
PYTHON_BASE = "localhost/distill-test/python:bookworm"
PYTHON_PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates"]
NODE_BASE = "localhost/distill-test/node:bookworm"
JAVA_BASE = "localhost/distill-test/java:bookworm"
# a builder that compiles C for this machine and for arm64 (Debian's cross toolchain)
CROSS_BASE = "localhost/distill-test/cross:bookworm"
CROSS_PACKAGES = ["gcc", "libc6-dev", "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"]
# the cross-compiling pattern: a C program made on the build platform for $TARGETARCH, then
# copied into busybox of each platform (an index named localhost/busybox:both: tag_index)
CROSS_HELLO_C = r"""#include <stdio.h>
#include <sys/utsname.h>
int main(void) {
    struct utsname u;
    uname(&u);
    printf("hello from %s\n", u.machine);
    return 0;
}
"""
CROSS_DOCKERFILE = f"""FROM --platform=$BUILDPLATFORM {CROSS_BASE} AS build
ARG TARGETARCH
COPY hello.c /src/
RUN case "$TARGETARCH" in arm64) cc=aarch64-linux-gnu-gcc;; *) cc=gcc;; esac \\
 && $cc -static -O2 -o /hello /src/hello.c
FROM localhost/busybox:both
COPY --from=build /hello /hello
CMD ["/hello"]
"""
# the bases scripts/demo.sh makes for the Flask example
DEMO_BASES = {
    "localhost/debian/python:bookworm": ["python3"],
    "localhost/debian/python-build:bookworm": ["python3", "python3-venv", "python3-pip", "python3-dev",
                                               "build-essential", "ca-certificates"],
}


def busybox_rootfs(dest: Path, binary: str = BUSYBOX) -> Path:
    """A root filesystem of busybox-static (this machine's, or `binary`: another
    architecture's build of the same package) with every applet linked, and /etc basics."""
    if not os.path.exists(BUSYBOX):
        raise RuntimeError("busybox-static is not installed: run the README's test setup")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "proc", "sys", "dev"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dest / "bin/busybox")
    listing = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout
    for path in listing.split():
        target = dest / path
        if not target.exists() and path != "bin/busybox":
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink("/bin/busybox", target)
    (dest / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
                                     "app:x:1000:1000:app:/home/app:/bin/sh\n")
    (dest / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\napp:x:1000:\n")
    os.chmod(dest / "tmp", 0o1777)
    return dest


def busybox_image(store: Store, name: str, workdir: Path, architecture: str | None = None) -> str:
    """busybox as an image of this machine's platform, or of linux/`architecture` (its
    busybox-static from the Debian archive, cached)."""
    binary = foreign_busybox(architecture) if architecture else BUSYBOX
    root = busybox_rootfs(workdir / f"busybox-rootfs{'-' + architecture if architecture else ''}", binary)
    buf = io.BytesIO()
    write_tree(root, buf)
    buf.seek(0)
    import_rootfs(store, buf, name, f"linux/{architecture}" if architecture else None,
                  created_by="busybox-static rootfs", cmd=["sh"])
    return name


def tag_index(store: Store, name: str, members: list[tuple[str, dict]]) -> None:
    """`name` made an index of the images the store names (reference, platform as a
    dict), as a registry's multi-platform image."""
    from distill.image.store.images import write_index

    store.set_tag(name, write_index(store, [(store.get_tag(ref), platform) for ref, platform in members]))


def foreign_busybox(architecture: str) -> str:
    """Debian's busybox-static for another architecture, unpacked from the archive by
    mmdebstrap's extract variant (no emulator needed), once per machine."""
    binary = CACHE / f"busybox-{architecture}"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tar = CACHE / f"busybox-{architecture}.tar"
        subprocess.run(["mmdebstrap", "--quiet", "--variant=extract", f"--architectures={architecture}",
                        "--include=busybox-static", "--skip=check/empty", "bookworm", str(tar)], check=True,
                       capture_output=True)
        data = subprocess.run(["tar", "-xOf", str(tar), "./bin/busybox"], check=True, capture_output=True).stdout
        tmp = binary.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o755)
        tmp.rename(binary)
        tar.unlink()
    return str(binary)


def cached_base(store: Store, name: str, packages: list[str], arch: str | None = None) -> str:
    """A bootstrapped Debian base (of the Debian architecture `arch`, this machine's by
    default), made once per machine and copied from the cache store."""
    cache = Store(CACHE / "store")
    try:
        lookup(cache, name)
    except Exception:
        bootstrap(cache, name, "bookworm", "minbase", packages, arch=arch)
    copy_image(cache, store, name)
    return name


def python_base(store: Store) -> str:
    return cached_base(store, PYTHON_BASE, PYTHON_PACKAGES)


def node_base(store: Store) -> str:
    return cached_base(store, NODE_BASE, ["nodejs"])


def java_base(store: Store) -> str:
    return cached_base(store, JAVA_BASE, ["openjdk-17-jre-headless"])


def copy_image(src: Store, dst: Store, name: str) -> None:
    """Copy one image (its blobs, then its name) between stores."""
    img = lookup(src, name)
    for d in [img.manifest_digest, img.config_digest] + [l["digest"] for l in img.layers]:
        if not dst.has_blob(d):
            with src.open_blob(d) as f:
                dst.ingest(f, d)
    dst.set_tag(img.name, img.descriptor)


def waste_dockerfile(base: str) -> str:
    """An image that hides a file each way a later layer can: overwritten (1000 bytes),
    deleted (2000), chmod-ed and so copied up whole (500), under a directory replaced by
    a file (700), under an opaque directory (400), and /thrice written three times (its
    first two copies, 300 each); /hard is deleted but its hard link /hard2 keeps its 800
    bytes shown. 5200 bytes wasted: [0, 4900, 300, 0] by layer."""
    return f"""FROM {base}
RUN head -c 1000 /dev/zero > /over && head -c 2000 /dev/zero > /gone && head -c 500 /dev/zero > /mode && \\
    mkdir /dir && head -c 700 /dev/zero > /dir/x && mkdir /opq && head -c 400 /dev/zero > /opq/y && \\
    head -c 800 /dev/zero > /hard && ln /hard /hard2 && head -c 300 /dev/zero > /thrice
RUN head -c 300 /dev/zero > /over && rm /gone && chmod 600 /mode && rm -rf /dir && echo f > /dir && \\
    rm -rf /opq && mkdir /opq && head -c 10 /dev/zero > /opq/z && rm /hard && head -c 300 /dev/zero > /thrice
RUN head -c 300 /dev/zero > /thrice
"""


def example_context(name: str, dest: Path) -> Path:
    """A copy of examples/NAME with its wheelhouse downloaded (Python 3.11, manylinux)."""
    import sys

    example = Path(__file__).resolve().parents[2] / "examples" / name
    shutil.copytree(example, dest, ignore=shutil.ignore_patterns("wheels", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
                    "--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                    "-d", str(dest / "wheels"), "-r", str(dest / "requirements.txt")], check=True)
    return dest
