"""The practices of multi-stage builds: dependencies installed after the whole context is
copied, a final stage without USER, stages nothing uses, files copied between stages on
different C libraries or Python minors, what a context should keep out. Pure."""

from __future__ import annotations

import re

from distill.analyze.lint.model import shipped, run_script, flag_value, stage_named, reachable, copies_context


_MANIFESTS = {"requirements.txt", "requirements", "pyproject.toml", "poetry.lock", "Pipfile", "Pipfile.lock",
              "setup.py", "setup.cfg", "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "go.mod",
              "go.sum", "Gemfile", "Gemfile.lock", "Cargo.toml", "Cargo.lock", "composer.json", "composer.lock",
              "pom.xml", "build.gradle", "uv.lock"}

_INSTALLS = re.compile(r"\b(pip[\d.]* install|poetry install|pipenv install|uv (pip install|sync)|npm (ci|install|i)"
                       r"\b|yarn( install)?\s*($|&&|;)|pnpm install|go mod download|bundle install|cargo (build|fetch)|"
                       r"composer install|mvn .*dependency:go-offline)")



def practices(stages, final, facts):
    """What the multi-stage guides ask: dependencies before sources, a non-root final
    stage, no dead stages, no files crossing between base families."""
    for s in stages:
        whole = None  # the COPY that brought the whole context
        for n in s.nodes:
            if copies_context(n):
                whole = whole or n
            elif n.value == "run" and whole is not None and _INSTALLS.search(run_script(n)):
                yield "deps-after-sources", n, f"Line {n.start_line} installs dependencies after line " \
                                               f"{whole.start_line} copied the whole context: every source edit " \
                                               f"reinstalls them. Copy the manifest first, install, and move line " \
                                               f"{whole.start_line} after line {n.start_line}"
                break
    if final is not None and not any(n.value == "user" for s in shipped(stages, final) for n in s.nodes):
        yield "runs-as-root", final.node, "The final stage sets no USER: the container runs as root"
    used = reachable(stages, final)
    for s in stages:
        if s not in used:
            yield "unused-stage", s.node, f"Stage {s.name or s.index} is not used by the stage built " \
                                          f"({final.name or final.index})"
    for s in stages:
        for n in s.nodes:
            source = flag_value(n, "from") if n.value == "copy" else None
            other = stage_named(stages, source) if source else None
            if other is None:
                continue
            a, b = _family(_root_base(stages, other)), _family(_root_base(stages, s))
            if a and b and a != b and (a[0] != b[0] or (a[1] and b[1] and a[1] != b[1])):
                yield "base-mismatch", n, f"COPY --from={source} copies from a stage on {_family_text(a)} into " \
                                          f"one on {_family_text(b)}: installed packages and programs may not run"



def _root_base(stages, s) -> str:
    seen = set()
    while s is not None and s.index not in seen:
        seen.add(s.index)
        parent = stage_named(stages, s.base) if s.base and not s.base.isdigit() else None
        if parent is None:
            return s.base.lower()
        s = parent
    return ""



def _family(image: str) -> tuple[str, str] | None:
    """(libc, python minor or "") guessed from an image name: alpine → musl; debian,
    ubuntu, python, node, ... → glibc."""
    if not image or "$" in image:
        return None
    name, _, tag = image.rpartition("/")[2].partition(":")
    libc = "musl" if "alpine" in image else "glibc"
    if name == "scratch" or name.startswith(("distroless", "static")):
        return None
    m = re.match(r"(\d+\.\d+)", tag) if name == "python" else None
    return libc, m.group(1) if m else ""



def _family_text(f) -> str:
    return f"{f[0]}" + (f", Python {f[1]}" if f[1] else "")



def context_checks(stages, final, facts):
    held = facts.options.context
    if not held or held.get("dockerignore"):
        return
    node = next((n for s in stages for n in s.nodes if copies_context(n)), None)
    found = held.get("unwanted") or []
    big = held.get("biggest")
    if node is not None and (found or big):
        what = ", ".join(found) + (f"; the biggest file is {big[0]} ({big[1] // (1 << 20)} MiB)" if big else "")
        yield "no-dockerignore", node, f"No .dockerignore, and the context holds {what}"
