"""The checks: each a function over the parsed Dockerfile (its stages) that yields
(rule id, node, message). Pure: no file is read here."""

from __future__ import annotations

import re
import shlex

_KEYWORD = re.compile(r"\s*(\S+)")
_SECRET = re.compile(r"(^|_)(password|passwd|secret|token|api_?key|private_?key|access_?key|credentials?)($|_)"
                     r"|api_key|client_key|password|private|secret|token|username|access_key", re.I)
_SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;", "\n"}


class Line:
    """Where a finding that belongs to no instruction is (a comment, a continuation)."""

    def __init__(self, line: int):
        self.start_line = line


class Stage:
    def __init__(self, index: int, node, name: str | None):
        self.index, self.node, self.name = index, node, name
        self.nodes: list = []
        self._commands: dict[int, list[list[str]]] = {}

    def commands(self, run) -> list[list[str]]:
        """A RUN's simple commands, split once for every check that reads them."""
        if id(run) not in self._commands:
            self._commands[id(run)] = commands(_script(run))
        return self._commands[id(run)]

    @property
    def base(self) -> str:
        return self.node.args[0] if self.node.args else ""


def shipped(stages, final) -> list:
    """The stages whose layers the final image holds: the final stage and the stages it
    is built FROM, in a chain."""
    by_name = {s.name: s for s in stages if s.name}
    out, s = [], final
    while s is not None and s not in out:
        out.append(s)
        s = by_name.get(s.base.lower())
    return out


def commands(script: str) -> list[list[str]]:
    """A shell script's simple commands, as word lists (a best effort: lint reads, never runs)."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=";&|()\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""
    out, current = [], []
    try:
        for token in lexer:
            if token in _SEPARATORS or set(token) <= set(";&|()\n"):
                if current:
                    out.append(current)
                current = []
            else:
                current.append(token)
    except ValueError:  # an unbalanced quote: what was read so far
        pass
    if current:
        out.append(current)
    return out


def _script(node) -> str:
    """The shell script a RUN runs: its command line, or a heredoc's body when the heredoc
    is the script (`RUN <<EOF`; `RUN python3 <<EOF` feeds it to another program)."""
    if node.json:
        return ""
    line = " ".join(node.args)
    if node.heredocs and line.lstrip().startswith("<<"):
        return "\n".join(h.content for h in node.heredocs)
    return line


def _runs(stages):
    for s in stages:
        for n in s.nodes:
            if n.value == "run":
                yield s, n, s.commands(n)


def _flag(node, name: str) -> str | None:
    for f in node.flags:
        if f.startswith(f"--{name}="):
            return f.split("=", 1)[1]
    return None


# ---- BuildKit's checks ----------------------------------------------------------------------
def stage_names(stages, final, ctx):
    seen = {}
    for s in stages:
        if s.name is None:
            continue
        written = s.node.args[2] if len(s.node.args) > 2 else s.name
        if written != written.lower():
            yield "stage-name-casing", s.node, f"Stage name '{written}' should be lowercase"
        if s.name.lower() in ("scratch", "context"):
            yield "reserved-stage-name", s.node, f"Stage name should not use the same name as reserved stage " \
                                                 f"'{s.name.lower()}'"
        if s.name.lower() in seen:
            yield "duplicate-stage-name", s.node, f"Duplicate stage name '{s.name}', stage names should be unique " \
                                                  f"(first at line {seen[s.name.lower()]})"
        seen.setdefault(s.name.lower(), s.node.start_line)
        keyword = _KEYWORD.match(s.node.original).group(1)
        as_word = next((w for w in s.node.original.split() if w.lower() == "as"), None)
        if as_word and (keyword.isupper() != as_word.isupper()):
            yield "from-as-casing", s.node, f"'{as_word}' and '{keyword}' keywords' casing do not match"


def casing(stages, final, ctx):
    nodes = [n for s in stages for n in [s.node] + s.nodes]
    keywords = [_KEYWORD.match(n.original).group(1) for n in nodes]
    upper = sum(1 for k in keywords if k.isupper())
    lower = sum(1 for k in keywords if k.islower())
    want_upper = upper >= lower
    for n, k in zip(nodes, keywords):
        if (want_upper and not k.isupper()) or (not want_upper and not k.islower()):
            yield "instruction-casing", n, f"Command '{k}' should match the case of the command majority " \
                                           f"({'uppercase' if want_upper else 'lowercase'})"


def json_args(stages, final, ctx):
    for s in stages:
        for n in s.nodes:
            if n.value in ("cmd", "entrypoint") and not n.json:
                yield "json-args-recommended", n, f"JSON arguments recommended for {n.value.upper()} to prevent " \
                                                  "unintended behavior related to OS signals"


def maintainer(stages, final, ctx):
    for s in stages:
        for n in s.nodes:
            if n.value == "maintainer":
                yield "maintainer-deprecated", n, "Maintainer instruction is deprecated in favor of using label"


def workdirs(stages, final, ctx):
    for s in stages:  # every relative one, as hadolint (BuildKit: only before an absolute one)
        for n in s.nodes:
            if n.value != "workdir" or not n.args:
                continue
            path = n.args[0].strip("\"'")
            if not (path.startswith(("/", "$")) or re.match(r"[A-Za-z]:[\\/]", path)):
                yield "workdir-relative", n, f"Relative workdir '{path}' can have unexpected results if the base " \
                                             "image changes"


def multiple(stages, final, ctx):
    for s in stages:
        for kind in ("cmd", "entrypoint", "healthcheck"):
            found = [n for n in s.nodes if n.value == kind]
            for n in found[1:]:  # each after the first, as hadolint reports them
                yield "multiple-instructions", n, f"Multiple {kind.upper()} instructions should not be used in the " \
                                                  "same stage because only the last one will be used"


def key_values(stages, final, ctx):
    for s in stages:
        for n in s.nodes:
            if n.value in ("env", "label") and len(n.args) >= 3 and n.args[2] == "":
                yield "legacy-key-value", n, f"\"{n.value.upper()} key=value\" should be used instead of legacy " \
                                             f"\"{n.value.upper()} key value\" format"


def expose(stages, final, ctx):
    for s in stages:
        for n in s.nodes:
            if n.value != "expose":
                continue
            for port in n.args:
                number, _, proto = port.partition("/")
                if proto and proto != proto.lower():
                    yield "expose-proto-casing", n, f"Defined protocol '{proto}' in EXPOSE instruction should be " \
                                                    "lowercase"
                if number.count(":") or number.count(".") >= 3:
                    yield "expose-invalid-format", n, f"EXPOSE instruction should not define an IP address or host " \
                                                      f"port mapping, found '{port}'"
                elif re.fullmatch(r"\d+", number) and int(number) > 65535:
                    yield "invalid-port", n, f"Valid UNIX ports range from 0 to 65535, found {number}"


def secrets(stages, final, ctx):
    for s in [None] + list(stages):
        for n in (ctx["global_args"] if s is None else s.nodes):
            if n.value not in ("arg", "env"):
                continue
            keys = n.args[0::3] if n.value == "env" else [a.split("=", 1)[0] for a in n.args]
            for key in keys:
                if _SECRET.search(key):
                    yield "secrets-in-arg-env", n, f"Do not use ARG or ENV instructions for sensitive data " \
                                                   f"({n.value.upper()} \"{key}\")"


def from_args(stages, final, ctx):
    declared = {a.split("=", 1)[0] for n in ctx["global_args"] for a in n.args}
    builtin = {"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM", "BUILDOS",
               "BUILDARCH", "BUILDVARIANT"}
    for s in stages:
        for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", s.base):
            if name not in declared and name not in builtin:
                yield "undefined-arg-in-from", s.node, f"FROM argument '{name}' is not declared"


# ---- hadolint's checks ----------------------------------------------------------------------
def shell_commands(stages, final, ctx):
    for s, n, cmds in _runs(stages):
        words = [c[0] for c in cmds if c]
        if "cd" in words:
            yield "cd-in-run", n, "Use WORKDIR to switch to a directory"
        if "sudo" in words:
            yield "sudo", n, "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to " \
                             "enforce root"
        if "apt" in words:
            yield "apt-not-apt-get", n, "Do not use apt as it is meant to be an end-user tool, use apt-get or " \
                                        "apt-cache instead"
        for c in cmds:
            yield from _apt(n, c)
            yield from _pip(n, c, s, ctx)
        if any(len(c) > 0 for c in cmds) and "|" in _script(n) and not ctx["pipefail"].get(id(n)) and \
                ctx["posix_shell"].get(id(n), True) and \
                re.search(r"[^|]\|[^|]", _script(n)):
            yield "pipefail", n, "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using " \
                                 "/bin/sh in an alpine image or if your shell is symlinked to busybox then consider " \
                                 "explicitly setting your SHELL to /bin/ash, or disable this check"
    for s in shipped(stages, final):
        for n in s.nodes:
            if n.value == "run" and ("apt-get install" in _script(n) or "apt-get update" in _script(n)) and \
                    "/var/lib/apt/lists" not in _script(n) and "apt-get dist-clean" not in _script(n) and \
                    "/var/lib/apt/lists" not in " ".join(n.flags):
                yield "apt-lists-kept", n, "Delete the apt-get lists after installing something"


def _apt(n, c):
    if len(c) < 2 or c[0] != "apt-get" or "install" not in c:
        return
    opts = [w for w in c[1:] if w.startswith("-")]
    packages = [w for w in c[c.index("install") + 1:] if not w.startswith("-")]
    if not any(o in ("-y", "--yes", "--assume-yes", "-qy", "-yq", "-qqy", "-yqq") or (o.startswith("-") and
               not o.startswith("--") and "y" in o) for o in opts):
        yield "apt-no-yes", n, "Use the -y switch to avoid manual input `apt-get -y install <package>`"
    if "--no-install-recommends" not in opts and "APT::Install-Recommends=false" not in " ".join(c):
        yield "apt-recommends", n, "Avoid additional packages by specifying `--no-install-recommends`"
    if any("=" not in p and not p.endswith(".deb") and not p.startswith("$") for p in packages):
        yield "apt-unpinned", n, "Pin versions in apt get install. Instead of `apt-get install <package>` use " \
                                 "`apt-get install <package>=<version>`"


def _pip_words(c: list[str]) -> list[str] | None:
    """The words after `pip` (pip, pip3, /venv/bin/pip, python3 -m pip), else None."""
    if c and re.fullmatch(r"(.*/)?pip[\d.]*", c[0]):
        return c[1:]
    if len(c) > 2 and re.fullmatch(r"(.*/)?python[\d.]*", c[0]) and c[1:3] == ["-m", "pip"]:
        return c[3:]
    return None


def _pip(n, c, stage, ctx):
    words = _pip_words(c)
    if not words or words[0] != "install":
        return
    args = words[1:]
    if "--no-cache-dir" not in args and not ctx["pip_no_cache"].get(stage.index) and "--mount=type=cache" not in \
            " ".join(n.flags):
        yield "pip-cache", n, "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`"
    if any(a in ("-r", "--requirement", "-c", "--constraint", "-e", "--editable") or a.startswith(("-r", "-c"))
           for a in args):
        return
    taking_value = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--target", "-t", "--prefix",
                    "--root", "--platform", "--python-version", "--implementation", "--abi", "--trusted-host",
                    "--src", "--upgrade-strategy", "--progress-bar", "--cache-dir", "--log"}
    packages, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in taking_value:
            skip = True
            continue
        if not a.startswith("-"):
            packages.append(a)
    for p in packages:
        if not re.search(r"(==|>=|<=|~=|!=|<|>|@)", p) and not p.endswith((".whl", ".tar.gz", ".zip")) and \
                "/" not in p and not p.startswith((".", "$")):
            yield "pip-unpinned", n, "Pin versions in pip. Instead of `pip install <package>` use `pip install " \
                                     "<package>==<version>` or `pip install --requirement <requirements file>`"
            return


def images(stages, final, ctx):
    names = {s.name.lower() for s in stages if s.name}
    for s in stages:
        base = s.base
        if base == "scratch" or base.lower() in names or "$" in base:
            continue
        last = base.rsplit("/", 1)[-1]
        if "@" in base:
            continue
        if ":" not in last:
            yield "untagged-image", s.node, "Always tag the version of an image explicitly"
        elif last.endswith(":latest"):
            yield "latest-tag", s.node, "Using latest is prone to errors if the image will ever update. Pin the " \
                                        "version explicitly to a release tag"


def copies(stages, final, ctx):
    for s in stages:
        workdir = False
        for n in s.nodes:
            if n.value == "workdir":
                workdir = True
            if n.value == "add":
                sources = n.args[:-1]
                if sources and not any(re.match(r"(https?|git)://|git@", a) or
                                       re.search(r"\.(tar|tgz|tar\.\w+|tbz2?|txz|zip)$", a) for a in sources):
                    yield "add-for-copy", n, "Use COPY instead of ADD for files and folders"
            if n.value not in ("copy", "add") or not n.args:
                continue
            if len(n.args) > 2 and not n.args[-1].endswith("/") and not n.json:
                yield "copy-dest-slash", n, "COPY with more than 2 arguments requires the last argument to end " \
                                            "with /"
            dest = n.args[-1]
            if not workdir and not dest.startswith(("/", "$")) and not re.match(r"[A-Za-z]:", dest):
                yield "copy-relative-no-workdir", n, "`COPY` to a relative destination without `WORKDIR` set."
            source = _flag(n, "from")
            if source is None:
                continue
            if source.lower() == (s.name or "").lower():
                yield "copy-from-self", n, "`COPY --from` cannot reference its own `FROM` alias"
                continue
            # as hadolint: a name with ':' is an image; anything else must be a stage so far
            earlier = {t.name.lower() for t in stages[:s.index + 1] if t.name} | {str(i) for i in range(s.index + 1)}
            if source.lower() not in earlier and ":" not in source:
                yield "copy-from-undefined", n, "`COPY --from` should reference a previously defined `FROM` alias"
            if "/" in [a.strip("\"'") for a in n.args[:-1]] and n.args[-1].strip("\"'") == "/":
                yield "copy-whole-filesystem", n, "Do not copy an entire filesystem from another stage"


_ARCHIVE = (".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz", ".tlz", ".tpz",
            ".txz", ".xz")
_DECOMPRESSORS = {"unzip", "gunzip", "bunzip2", "unlzma", "unxz", "zgz", "uncompress", "zcat", "gzcat"}


def _unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'" else s


def _basename(path: str) -> str:
    return _unquote(path).replace("\\", "/").rsplit("/", 1)[-1]


def _extracts(c: list[str]) -> bool:
    if c[0] == "tar":
        return any(a in ("--extract", "--get") or a.startswith("-") and not a.startswith("--") and "x" in a
                   for a in c[1:])
    return c[0] in _DECOMPRESSORS


def archives(stages, final, ctx):
    """A local archive COPYed, then extracted by a RUN of the same stage: ADD does it in
    one layer, without the archive."""
    for s in stages:
        copied: dict[str, object] = {}  # archive's file name → the COPY
        reported = set()
        for n in s.nodes:
            if n.value == "copy" and _flag(n, "from") is None and len(n.args) >= 2:
                dest = _basename(n.args[-1])
                names = [dest] if dest.endswith(_ARCHIVE) else [
                    b for b in map(_basename, n.args[:-1]) if b.endswith(_ARCHIVE)]
                copied.update(dict.fromkeys(names, n))
            elif n.value == "run" and copied:
                for c in s.commands(n):
                    if not _extracts(c):
                        continue
                    for name in {_basename(a) for a in c[1:] if not a.startswith("-")} & set(copied):
                        if id(copied[name]) not in reported:
                            reported.add(id(copied[name]))
                            yield "archive-extracted", copied[name], "Use `ADD` for extracting archives into an image"


def ignore_pragmas(stages, final, ctx):
    for i, line in enumerate(ctx.get("lines") or []):
        words = line.strip().lstrip("#").split()
        if line.lstrip().startswith("#") and len(words) >= 2 and words[0] == "hadolint" and \
                words[1].startswith("ignore="):
            yield "ignore-pragma", Line(i + 1), "Please refrain from using inline ignore pragmas " \
                                                "`# hadolint ignore=DLxxxx`."


_LABEL_MESSAGES = {
    "label-not-url": "is not a valid URL", "label-not-rfc3339": "is not a valid RFC 3339 time",
    "label-not-spdx": "is not a valid SPDX licence identifier", "label-not-git-hash": "is not a valid git hash",
    "label-not-semver": "does not conform to semantic versioning",
    "label-not-email": "is not a valid email address (RFC 5322)",
}


def label_schema(stages, final, ctx):
    """The configuration's label schema: each LABEL's values by their type, and the labels
    the stage that ships lacks (at its FROM: a builder stage's labels never reach the
    image, where hadolint asks every stage for them)."""
    schema, strict = ctx.get("labels") or {}, ctx.get("strict_labels")
    if not schema and not strict:
        return
    from distill.analyze.lint.labels import TYPES

    for s in stages:
        for n in s.nodes:
            if n.value != "label":
                continue
            pairs = [(_unquote(k), _unquote(v)) for k, v in zip(n.args[0::3], n.args[1::3])]
            if strict and any(k not in schema for k, _ in pairs):
                yield "label-superfluous", n, "Superfluous label(s) present: " + \
                    ", ".join(k for k, _ in pairs if k not in schema)
            for key, value in pairs:
                if key not in schema:
                    continue
                if value == "":
                    yield "label-empty", n, f"Label `{key}` is empty."
                test, rule = TYPES[schema[key]]
                if test is not None and not test(value):
                    yield rule, n, f"Label `{key}` {_LABEL_MESSAGES[rule]}."
    if final is not None:
        have = {_unquote(k) for s in shipped(stages, final) for n in s.nodes if n.value == "label"
                for k in n.args[0::3]}
        for label in schema:
            if label not in have:
                yield "label-missing", final.node, f"Label `{label}` is missing."


def consecutive_runs(stages, final, ctx):
    """Two RUNs in a row, each one simple command with the same flags (several commands
    chained with && look deliberate, as to hadolint)."""
    for s in stages:
        previous = None  # (flags, commands) of the RUN just before
        for n in s.nodes:
            if n.value != "run":
                previous = None
                continue
            count = 1 if n.json else len(s.commands(n))
            if previous is not None and previous[0] == n.flags and previous[1] <= 1 and count <= 1:
                yield "consecutive-run", n, "Multiple consecutive `RUN` instructions. Consider consolidation."
            else:
                previous = (n.flags, count)


def final_stage(stages, final, ctx):
    """Rules about the running image: the stage built, never a builder stage."""
    if final is None:
        return
    users = [n for n in final.nodes if n.value == "user"]
    if users and users[-1].args and users[-1].args[0].split(":")[0] in ("root", "0"):
        yield "root-user", users[-1], "Last USER should not be root"
    if not any(n.value == "healthcheck" for n in final.nodes):
        yield "no-healthcheck", final.node, "`HEALTHCHECK` instruction missing."


_POINTLESS = {"ssh", "vim", "shutdown", "service", "ps", "free", "top", "kill", "mount", "ifconfig"}
_LABEL_KEY = re.compile(r"[a-z0-9]([a-z0-9]|[.-](?=[a-z0-9]))*")


def _args_after(c: list[str], sub: str, taking_value: set[str] = frozenset()) -> list[str] | None:
    """The non-option words after subcommand `sub` (None when `sub` is not there)."""
    if sub not in c:
        return None
    out, skip = [], False
    for w in c[c.index(sub) + 1:]:
        if skip:
            skip = False
        elif w in taking_value:
            skip = True
        elif not w.startswith("-"):
            out.append(w)
    return out


def more_commands(stages, final, ctx):
    tools_seen: dict[str, int] = {}
    for s, n, cmds in _runs(stages):
        script = _script(n)
        words = [c[0].rsplit("/", 1)[-1] for c in cmds if c]
        for w in sorted(set(words) & _POINTLESS):
            yield "pointless-command", n, f"For some bash commands it makes no sense running them in a Docker " \
                                          f"container like `{w}`"
        for c in cmds:
            tool = c[0].rsplit("/", 1)[-1] if c else ""
            if tool == "npm" and len(c) > 1 and c[1] in ("install", "i", "add"):
                pkgs = _args_after(c, c[1], {"--prefix", "--registry", "--cache"}) or []
                if any(not re.search(r".@[^/]", p) and not p.startswith((".", "/", "git", "http")) and
                       not p.endswith((".tgz", ".tar.gz")) for p in pkgs):
                    yield "npm-unpinned", n, "Pin versions in npm. Instead of `npm install <package>` use " \
                                             "`npm install <package>@<version>`"
            if tool == "apk" and "add" in c:
                pkgs = _args_after(c, "add", {"-t", "--virtual", "-X", "--repository", "--root", "-p"}) or []
                if any("=" not in p and not p.startswith("$") for p in pkgs):
                    yield "apk-unpinned", n, "Pin versions in apk add. Instead of `apk add <package>` use `apk add " \
                                             "<package>=<version>`"
                if "--no-cache" not in c and "--mount=type=cache" not in " ".join(n.flags):
                    yield "apk-cache", n, "Use the `--no-cache` switch to avoid the need to use `--update` and " \
                                          "remove `/var/cache/apk/*` when done installing packages"
            if tool == "gem" and "install" in c and not ({"-v", "--version"} & set(c)):
                pkgs = _args_after(c, "install", {"-v", "--version", "-i", "--install-dir", "-n", "--bindir"}) or []
                if any(":" not in p for p in pkgs):
                    yield "gem-unpinned", n, "Pin versions in gem install. Instead of `gem install <gem>` use `gem " \
                                             "install <gem>:<version>`"
            if tool in ("yum", "dnf", "microdnf") and "install" in c:
                name = "yum" if tool == "yum" else "dnf"
                if not {"-y", "--assumeyes"} & set(c) and tool != "microdnf":
                    yield f"{name}-no-yes", n, f"Use the -y switch to avoid manual input `{tool} install -y <package>`"
                if f"{tool} clean all" not in script and f"/var/cache/{name}" not in script:
                    yield f"{name}-clean", n, f"`{tool} clean all` missing after {tool} command."
                pkgs = _args_after(c, "install") or []
                if any(not re.search(r"-\d", p) and not p.endswith(".rpm") and not p.startswith("$") for p in pkgs):
                    yield f"{name}-unpinned", n, f"Specify version with `{tool} install -y <package>-<version>`."
            if tool == "zypper" and len(c) > 1:
                verbs = [w for w in c[1:] if not w.startswith("-")]
                if verbs and verbs[0] in ("install", "in"):
                    if not {"-y", "-n", "--non-interactive", "--no-confirm"} & set(c):
                        yield "zypper-no-yes", n, "Non-interactive switch missing from `zypper` command: `zypper " \
                                                  "install -y`"
                    if "zypper clean" not in script and "zypper cc" not in script:
                        yield "zypper-clean", n, "`zypper clean` missing after zypper use."
                    if any(not re.search(r"[=<>]", p) and not p.endswith(".rpm") for p in verbs[1:]):
                        yield "zypper-unpinned", n, "Specify version with `zypper install -y <package>=<version>`."
                if verbs and verbs[0] in ("dist-upgrade", "dup"):
                    yield "zypper-dist-upgrade", n, "Do not use `zypper dist-upgrade`."
            if tool == "go" and len(c) > 2 and c[1] == "install":
                pkgs = [w for w in c[2:] if not w.startswith("-")]
                if any("@" not in p or p.endswith("@latest") for p in pkgs if not p.startswith((".", "/"))):
                    yield "go-unpinned", n, "Pin versions in go. Instead of `go install <package>` use `go install " \
                                            "<package>@<version>`"
            if tool == "useradd" and not ({"-l", "--no-log-init"} & set(c)):
                uid = next((c[i + 1] for i, w in enumerate(c[:-1]) if w in ("-u", "--uid")), None)
                if uid and uid.isdigit() and len(uid) > 5:
                    yield "useradd-no-l", n, "`useradd` without flag `-l` and high UID will result in excessively " \
                                             "large Image."
            if tool == "wget" and not any(w.startswith("--progress") or w in ("-q", "--quiet", "-nv", "--no-verbose")
                                          for w in c):
                yield "wget-progress", n, "Avoid use of wget without progress bar. Use `wget --progress=dot:giga " \
                                          "<url>`. Or consider using `-q` or `-nv` (shorthands for `--quiet` or " \
                                          "`--no-verbose`)."
            if tool == "ln" and c[-1] == "/bin/sh":
                yield "sh-symlink", n, "Use SHELL to change the default shell"
        if "yarn" in words and "yarn cache clean" not in script and "--mount=type=cache" not in " ".join(n.flags):
            if any(c and c[0] == "yarn" and (len(c) == 1 or c[1] in ("install", "add")) for c in cmds):
                yield "yarn-cache", n, "`yarn cache clean` missing after `yarn install` was run."
        for tool in ("wget", "curl"):
            if tool in words:
                other = "curl" if tool == "wget" else "wget"
                if other in tools_seen:
                    yield "wget-and-curl", n, "Either use Wget or Curl but not both"
                    break
        for tool in ("wget", "curl"):
            if tool in words:
                tools_seen.setdefault(tool, n.start_line)


def instructions(stages, final, ctx):
    for n in ctx["before_from"]:
        yield "instruction-order", n, "Invalid instruction order. Dockerfile must begin with `FROM`, `ARG` or comment."
        break
    for s in stages:
        flag = _flag(s.node, "platform")
        if flag is not None and "$" not in flag:
            yield "from-platform", s.node, "Do not use --platform flag with FROM"
        for n in s.nodes:
            if n.value == "onbuild" and n.child is not None and n.child.value in ("onbuild", "from", "maintainer"):
                yield "onbuild-forbidden", n, "`ONBUILD`, `FROM` or `MAINTAINER` triggered from within `ONBUILD` " \
                                              "instruction."
            if n.value == "env":
                defined = []
                for key, value in zip(n.args[0::3], n.args[1::3]):
                    if any(re.search(rf"\$(\{{)?{re.escape(d)}\b", value) for d in defined):
                        yield "env-self-reference", n, "Do not refer to an environment variable within the same " \
                                                       "`ENV` statement where it is defined."
                        break
                    defined.append(key)
            if n.value == "label":
                for key in n.args[0::3]:
                    if not _LABEL_KEY.fullmatch(key):
                        yield "label-key-invalid", n, f"Invalid label key: {key}"
    if final is not None:
        for n in final.nodes:
            if n.value == "user" and n.args and not n.args[0].split(":")[0].isdigit() and "$" not in n.args[0]:
                yield "user-not-numeric", n, "Non-numeric user-id may not be resolvable by host system"


_MANIFESTS = {"requirements.txt", "requirements", "pyproject.toml", "poetry.lock", "Pipfile", "Pipfile.lock",
              "setup.py", "setup.cfg", "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "go.mod",
              "go.sum", "Gemfile", "Gemfile.lock", "Cargo.toml", "Cargo.lock", "composer.json", "composer.lock",
              "pom.xml", "build.gradle", "uv.lock"}
_INSTALLS = re.compile(r"\b(pip[\d.]* install|poetry install|pipenv install|uv (pip install|sync)|npm (ci|install|i)"
                       r"\b|yarn( install)?\s*($|&&|;)|pnpm install|go mod download|bundle install|cargo (build|fetch)|"
                       r"composer install|mvn .*dependency:go-offline)")


def practices(stages, final, ctx):
    """What the multi-stage guides ask: dependencies before sources, a non-root final
    stage, no dead stages, no files crossing between base families."""
    for s in stages:
        whole = None  # the COPY that brought the whole context
        for n in s.nodes:
            if _copies_context(n):
                whole = whole or n
            elif n.value == "run" and whole is not None and _INSTALLS.search(_script(n)):
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
            source = _flag(n, "from") if n.value == "copy" else None
            other = _stage_named(stages, source) if source else None
            if other is None:
                continue
            a, b = _family(_root_base(stages, other)), _family(_root_base(stages, s))
            if a and b and a != b and (a[0] != b[0] or (a[1] and b[1] and a[1] != b[1])):
                yield "base-mismatch", n, f"COPY --from={source} copies from a stage on {_family_text(a)} into " \
                                          f"one on {_family_text(b)}: installed packages and programs may not run"


def _stage_named(stages, name: str):
    return next((t for t in stages if (t.name and t.name == name.lower()) or str(t.index) == name), None)


def _root_base(stages, s) -> str:
    seen = set()
    while s is not None and s.index not in seen:
        seen.add(s.index)
        parent = _stage_named(stages, s.base) if s.base and not s.base.isdigit() else None
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


def reachable(stages, final) -> set:
    """The stages the built one needs: its FROM chain, COPY --from and RUN --mount from=."""
    if final is None:
        return set(stages)
    todo, out = [final], set()
    while todo:
        s = todo.pop()
        if s in out:
            continue
        out.add(s)
        parent = _stage_named(stages, s.base) if s.base else None
        if parent is not None and parent.index < s.index:
            todo.append(parent)
        for n in s.nodes:
            names = [_flag(n, "from")] if n.value in ("copy", "add") else []
            if n.value == "run":
                names += re.findall(r"from=([^,\s]+)", " ".join(n.flags))
            for name in filter(None, names):
                other = _stage_named(stages, name)
                if other is not None:
                    todo.append(other)
    return out


def buildkit_more(stages, final, ctx):
    defaults = {}
    for n in ctx["global_args"]:
        for a in n.args:
            key, eq, value = a.partition("=")
            defaults[key] = value if eq else None
        if n.comments and len(n.args) == 1:
            yield from _description(n, n.args[0].split("=", 1)[0], ctx["lines"])
    for s in stages:
        platform = _flag(s.node, "platform")
        if platform in ("$TARGETPLATFORM", "${TARGETPLATFORM}"):
            yield "redundant-target-platform", s.node, "Setting platform to predefined $TARGETPLATFORM in FROM is " \
                                                       "redundant as this is the default behavior"
        names = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", s.base)
        if names and all(n in defaults for n in names):
            expanded = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(:?[-+][^}]*)?\}?",
                              lambda m: defaults.get(m.group(1)) or "", s.base)
            if not re.fullmatch(r"[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*", expanded) or expanded.endswith((":", "@", "/")):
                yield "invalid-default-arg-in-from", s.node, f"Default value for ARG {s.base} results in empty or " \
                                                             "invalid base image name"
        if s.name and s.node.comments:
            yield from _description(s.node, s.name, ctx["lines"])
        for n in s.nodes:
            if n.value == "arg" and n.comments and len(n.args) == 1:
                yield from _description(n, n.args[0].split("=", 1)[0], ctx["lines"])
    ignore = (ctx.get("context") or {}).get("dockerignore_text")
    if ignore:
        from distill.build.context.ignore import Matcher

        matcher = Matcher.from_text(ignore)
        for s in stages:
            for n in s.nodes:
                if n.value not in ("copy", "add") or _flag(n, "from") is not None or n.json:
                    continue
                for src in n.args[:-1]:
                    rel = src.strip("\"'").lstrip("./").rstrip("/")
                    if rel and not re.search(r"[*?\[$]", rel) and "://" not in rel and matcher.ignored(rel):
                        yield "copy-ignored-file", n, f"Attempting to Copy file \"{src}\" that is excluded by " \
                                                      ".dockerignore"


def _description(node, name: str, lines: list[str]):
    """A comment right above (no blank line between) is a description."""
    above = lines[node.start_line - 2].strip() if node.start_line >= 2 and len(lines) >= node.start_line - 1 else ""
    if not above.startswith("#"):
        return
    last = node.comments[-1].strip()
    words = last.split()
    if words and not last.startswith(("syntax=", "escape=", "check=", "hadolint ", "distill ")) and \
            words[0] != name:
        yield "definition-description", node, f"Comment for {'build stage' if node.value == 'from' else 'build arg'} " \
                                              f"or argument should follow the format: `# {name} <description>`. If " \
                                              "this is not intended to be a description comment, add an empty line " \
                                              "or comment between the instruction and the comment."


_EXPANDING = {"add", "copy", "env", "expose", "label", "stopsignal", "user", "volume", "workdir", "arg"}
_PREDEFINED = {"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM", "BUILDOS", "BUILDARCH",
               "BUILDVARIANT", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy",
               "https_proxy", "ftp_proxy", "no_proxy", "all_proxy", "PATH", "SOURCE_DATE_EPOCH"}
_REFERENCE = re.compile(r"(?<!\\)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(:?[-+?][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")


def variables(stages, final, ctx):
    """BuildKit's UndefinedVar (where the base image's ENV is known: a stage, scratch, or
    an image in the store) and InvalidBaseImagePlatform."""
    bases = ctx.get("bases") or {}
    env_of: dict[int, set] = {}
    for s in stages:
        parent = _stage_named(stages, s.base) if s.base else None
        if parent is not None and parent.index < s.index:
            known = set(env_of.get(parent.index, set()))
        elif s.base == "scratch":
            known = set()
        elif s.base in bases:
            known = set(bases[s.base]["env"])
            platform = bases[s.base].get("platform")
            wanted = ctx.get("platform")
            if platform and wanted and platform != wanted and _flag(s.node, "platform") is None:
                yield "base-image-platform", s.node, f"Base image {s.base} was pulled with platform " \
                                                     f"\"{platform}\", expected \"{wanted}\" for current build"
        else:
            known = None  # the base's ENV is not known here: nothing is called undefined
        env = set()
        for n in s.nodes:
            if known is not None and n.value in _EXPANDING:
                defined = known | env | _PREDEFINED
                words = n.args[1::3] if n.value in ("env", "label") else n.args
                for word in words:
                    for name, form, plain in _REFERENCE.findall(word):
                        var = name or plain
                        if var in defined or form:
                            continue
                        import difflib

                        near = difflib.get_close_matches(var, sorted(defined), n=1)
                        hint = f" (did you mean ${near[0]}?)" if near else ""
                        yield "undefined-var", n, f"Usage of undefined variable '${var}'{hint}"
            if n.value == "arg":
                env |= {a.split("=", 1)[0] for a in n.args}
            elif n.value == "env":
                env |= set(n.args[0::3])
        env_of[s.index] = (known or set()) | {k for n in s.nodes if n.value == "env" for k in n.args[0::3]}


def registries(stages, final, ctx):
    trusted = ctx.get("trusted")
    if not trusted:
        return
    names = {s.name for s in stages if s.name}
    for s in stages:
        image = s.base
        if image == "scratch" or image.lower() in names or "$" in image:
            continue
        first, _, rest = image.partition("/")
        registry = first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"
        if registry not in trusted and not (registry == "docker.io" and "hub.docker.com" in trusted):
            yield "untrusted-registry", s.node, f"Use only an allowed registry in the FROM image ({registry} is not " \
                                                f"one of {', '.join(trusted)})"


def context_checks(stages, final, ctx):
    facts = ctx.get("context")
    if not facts or facts.get("dockerignore"):
        return
    node = next((n for s in stages for n in s.nodes if _copies_context(n)), None)
    found = facts.get("unwanted") or []
    big = facts.get("biggest")
    if node is not None and (found or big):
        what = ", ".join(found) + (f"; the biggest file is {big[0]} ({big[1] // (1 << 20)} MiB)" if big else "")
        yield "no-dockerignore", node, f"No .dockerignore, and the context holds {what}"


def _copies_context(node) -> bool:
    """COPY . or ADD . : the whole build context."""
    return node.value in ("copy", "add") and _flag(node, "from") is None and any(
        a.rstrip("/") in (".", "./", "") for a in node.args[:-1])


CHECKS = (stage_names, casing, json_args, maintainer, workdirs, multiple, key_values, expose, secrets, from_args,
          shell_commands, images, copies, consecutive_runs, final_stage, more_commands, instructions, practices,
          context_checks, registries, buildkit_more, variables, archives, ignore_pragmas, label_schema)
