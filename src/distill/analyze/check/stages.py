"""Cross-stage provenance: what the final image lacks, looked up in the build's other
stages (through the build record), with the step that made it there, the COPY --from
lines that carried something else, and a fix."""

from __future__ import annotations

import posixpath
import re

from distill.errors import DistillError
from distill.image.imagefs import Attribution, ImageFS, recorded_stage_image, stage_label
from distill.analyze.check.start import DEFAULT_PATH


def attribute(store, record: dict, findings: list[dict], report_python: dict | None = None) -> None:
    """Adds to each finding about a missing program where another stage has it, and to
    every finding the final stage's ENTRYPOINT/CMD line."""
    stages = [s for s in record.get("stages") or [] if s.get("image")]
    target = next((s for s in stages if s.get("target")), None)
    if target is None:
        return
    command_line = next((st["line"] for st in reversed(target.get("steps") or [])
                         if st.get("instruction", "").split(" ", 1)[0].upper() in ("CMD", "ENTRYPOINT")), None)
    opened: dict[int, tuple] = {}
    dockerfile = posixpath.basename((record.get("dockerfile") or {}).get("path") or "Dockerfile")
    for f in findings:
        f["stage"] = stage_label(target)
        if command_line is not None and f.get("line") is None:
            f["line"] = command_line
        kind = _kind(f)
        if kind is None or f["severity"] != "error":
            continue
        for s in stages:
            if s is target:
                continue
            if s["index"] not in opened:
                image = recorded_stage_image(store, s)
                opened[s["index"]] = (ImageFS(store, image.layers, image.diff_ids, image.config),
                                      Attribution(image, record), image.config)
            fs, who, config = opened[s["index"]]
            path = {"program": lambda: _find(fs, config, f["program"]),
                    "library": lambda: _find_library(fs, f["library"], f.get("machine")),
                    "node": lambda: _find_node_module(fs, f["module"]),
                    "module": lambda: _find_module(fs, f["module"])}[kind]()
            if path is None:
                continue
            node = fs.stat(path, follow=False)  # the layer that wrote this name (a link, maybe)
            made = who.of(node.layer)
            f["found_in"] = {"stage": stage_label(s), "path": path, "line": made.get("line"),
                             "instruction": made.get("created_by")}
            carried = [(st["line"], c) for st in target.get("steps") or [] if (c := st.get("copies"))
                       and c.get("from", {}).get("stage") == s["index"]]
            found = Found(s, path, made, carried, dockerfile)
            if kind == "node":
                story = _node_story(found, f.get("importer") or "/app/x")
            elif kind == "module":
                story = _module_story(found, (report_python or {}).get("version"))
            elif kind == "library":
                story = _library_story(found, _owner(fs, path))
            else:
                story = _story(found, _is_console_script(fs, path))
            f["message"] += story
            break


def _kind(finding: dict) -> str | None:
    """What a finding says is missing: a program, a shared library, a Node or Python module."""
    if finding["rule"] == "library-missing":
        return "library"
    if finding.get("program"):
        return "program"
    if finding.get("module"):
        return "node" if finding["rule"].startswith("node-") else "module"
    return None


def _from(stage: dict) -> str:
    """How COPY --from names the stage: its name, else its index."""
    return stage.get("name") or str(stage["index"])


def _find(fs: ImageFS, config: dict, name: str) -> str | None:
    if "/" in name:
        node = fs.stat(name, follow=True)
        return name if node is not None and node.inode.type == "0" else None
    env = dict(e.partition("=")[::2] for e in (config.get("config") or {}).get("Env") or [])
    for d in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = posixpath.join(d or "/", name)
        node = fs.stat(candidate, follow=True)
        if node is not None and node.inode.type == "0" and node.inode.mode & 0o111:
            return candidate
    return None


def _find_module(fs: ImageFS, module: str) -> str | None:
    """Where a stage has the top-level package or module of `module` in a directory
    packages are installed in (site-packages, dist-packages, or any holding .dist-info)."""
    top = module.split(".")[0]
    for path, node in fs.walk("/"):
        parent, _, name = path.rpartition("/")
        if not (name == top and node.type == "5" or name.split(".")[0] == top and name.endswith((".py", ".so"))):
            continue
        siblings = fs.stat(parent or "/", follow=False).children or {}
        if parent.endswith(("/site-packages", "/dist-packages")) or any(n.endswith(".dist-info") for n in siblings):
            return path
    return None


def _find_library(fs: ImageFS, name: str, machine: int | None = None) -> str | None:
    """Where a stage has a shared library of this name (in a lib directory), built for
    the `machine` (ELF e_machine) of the program that needs it: a cross toolchain's
    libraries of another architecture are not the answer."""
    from distill.analyze.check.elf import read as read_elf

    for path, node in fs.walk("/"):
        if path.endswith("/" + name) and "/lib" in path and node.type in ("0", "2"):
            facts = read_elf(fs, path) if machine is not None else None
            if machine is None or (facts is not None and facts["machine"] == machine):
                return path
    return None


def _owner(fs: ImageFS, path: str) -> str | None:
    """The Debian package whose file list in the stage has `path` (either side of the
    /lib -> /usr/lib merge), from the stage's dpkg database."""
    from distill.analyze.packages.dpkg import catalog

    names = {path, "/usr" + path if not path.startswith("/usr/") else path[len("/usr"):]}
    try:
        return next((p["name"] for p in catalog(fs, files=True) if names & set(p.get("files") or ())), None)
    except DistillError:
        return None


class Found:
    """What another stage has: the stage, the path, the step that made it there, the final
    stage's COPY --from lines that carried something else from that stage, and the name
    of the Dockerfile the build read (-f Dockerfile.prod), which the stories' lines name."""

    def __init__(self, stage: dict, path: str, made: dict, carried: list, dockerfile: str):
        self.stage, self.path, self.made, self.carried, self.dockerfile = stage, path, made, carried, dockerfile
        self.ref, self.frm = stage_label(stage), _from(stage)

    def at(self, line) -> str:
        return f"{self.dockerfile}:{line}"

    def has(self) -> str:
        made = self.made
        where = f" (from {made['created_by']}, {self.at(made['line'])})" if made.get("line") else ""
        return f". Stage `{self.ref}` has it at {self.path}{where}"

    def copies(self) -> str:
        if not self.carried:
            return f"the final stage copies nothing from `{self.ref}`"
        what = ", ".join(f"{' '.join(p[0] for p in c['paths']) or '?'} ({self.at(line)})" for line, c in self.carried)
        return f"the final stage copies only {what} from `{self.ref}`"


def _library_story(found: Found, package: str | None = None) -> str:
    ref, frm, path = found.ref, found.frm, found.path
    what = (f"{package} (the package that has it in `{ref}`)" if package else
            "the package that provides it (the runtime package, not -dev)")
    return (f"{found.has()}; {found.copies()}. Fix: install {what} in the final stage, "
            f"or COPY --from={frm} {path} {path} with the libraries it needs in turn")


def _find_node_module(fs: ImageFS, spec: str) -> str | None:
    """Where a stage has a package in a node_modules directory."""
    if spec.startswith((".", "/")):
        return None
    parts = spec.split("/")
    package = "/".join(parts[:2] if spec.startswith("@") else parts[:1])
    for path, node in fs.walk("/"):
        if node.type == "5" and path.endswith("/node_modules/" + package):
            return path
    return None


def _node_story(found: Found, importer: str) -> str:
    path = found.path
    modules = path[:path.rindex("/node_modules/") + len("/node_modules")]
    dest = posixpath.join(posixpath.dirname(importer), "node_modules")
    return f"{found.has()}; {found.copies()}. Fix: COPY --from={found.frm} {modules} {dest}"


def _module_story(found: Found, version: str | None) -> str:
    ref, frm, path, carried = found.ref, found.frm, found.path, found.carried
    site = posixpath.dirname(path)
    text = f"{found.has()}; {found.copies()}"
    m = re.search(r"/python(\d+\.\d+)/", path)
    if m and version and m.group(1) != version:
        return text + (f". `{ref}` installed it for Python {m.group(1)} and the final image runs Python {version}: "
                       "copying it will not be enough; install it with the final stage's Python, or build both "
                       "stages on the same base")
    copied = [(src, dest, line) for line, c in carried for src, dest in c["paths"]
              if site == src or site.startswith(src.rstrip("/") + "/")]
    if copied:
        src, dest, line = copied[0]
        there = posixpath.normpath(dest + site[len(src.rstrip("/")):])
        return text + (f". It is copied: {found.at(line)} puts {site} at {there} in the final image, which is not "
                       f"on its sys.path. Fix: ENV PYTHONPATH={there}")
    venv = re.match(r"(.+)/lib/python\d+\.\d+/site-packages$", site)
    if venv and not site.startswith(("/usr/", "/root/", "/home/")):
        return text + f". Fix: COPY --from={frm} {venv.group(1)} {venv.group(1)} (the whole virtual environment, " \
                      "at the same path)"
    return text + (f". Fix: install the packages into a virtual environment in `{ref}` (python3 -m venv /venv; "
                   f"/venv/bin/pip install ...), COPY --from={frm} /venv /venv and run /venv/bin/python; or "
                   f"COPY --from={frm} {site} {site}")


def _is_console_script(fs: ImageFS, path: str) -> bool:
    head = fs.head(fs.stat(path, follow=True), 256)
    return head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]


def _story(found: Found, console_script: bool) -> str:
    ref, frm, path, carried = found.ref, found.frm, found.path, found.carried
    text = found.has()
    moved = [(src, dest, line) for line, c in carried for src, dest in c["paths"]
             if src != dest and (path == src or path.startswith(src.rstrip("/") + "/"))]
    if moved:
        src, dest, line = moved[0]
        return (text + f"; the final stage copies {src} to {dest} ({found.at(line)}), and what was copied still "
                f"names {path}: a virtual environment (its scripts' #! lines, pyvenv.cfg) only works at the path "
                f"it was made at. Fix: COPY --from={frm} {src} {src}, or make it at {dest} in `{ref}`")
    text += f"; {found.copies()}"
    if posixpath.basename(path).startswith(("ld-linux", "ld-musl")):
        libc = "musl" if "musl" in path else "glibc"
        return text + (f". The program was linked against {libc} in `{ref}`: its loader alone will not do (the C "
                       f"library and what it needs come with it). Fix: build the final stage FROM a base with "
                       f"{libc}, or link the program statically")
    if re.fullmatch(r"python[\d.]*", posixpath.basename(path)):
        return text + (f". A Python program needs the interpreter with its standard library and shared libraries, "
                       f"not one file: build the final stage FROM a base that has {posixpath.basename(path)} at "
                       f"{path} (a virtual environment's python links to its base's, pyvenv.cfg's home)")
    if console_script:
        text += (f". Fix: install the packages into a virtual environment in `{ref}` (python3 -m venv /venv; "
                 f"/venv/bin/pip install ...) and COPY --from={frm} /venv /venv, with /venv/bin on PATH: a console "
                 "script needs its packages, not just itself")
    else:
        text += f". Fix: COPY --from={frm} {path} {path}"
    return text
