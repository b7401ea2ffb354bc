"""The checks: each a function over the parsed Dockerfile (its stages) that yields
(rule id, node, message), CHECKS the whole list in the order they run (RUN scripts'
checks in shell_checks.py, multi-stage practices in practices.py). Pure: no file is read here."""

from __future__ import annotations

import re

from distill.analyze.lint.model import Line, shipped, flag_value, stage_named, unquote
from distill.analyze.lint.shell_checks import shell_commands, consecutive_runs, more_commands, archives
from distill.analyze.lint.practices import practices, context_checks


_KEYWORD = re.compile(r"\s*(\S+)")

_SECRET = re.compile(r"(^|_)(password|passwd|secret|token|api_?key|private_?key|access_?key|credentials?)($|_)"
                     r"|api_key|client_key|password|private|secret|token|username|access_key", re.I)



# ---- BuildKit's checks ----------------------------------------------------------------------
def stage_names(stages, final, facts):
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



def casing(stages, final, facts):
    nodes = [n for s in stages for n in [s.node] + s.nodes]
    keywords = [_KEYWORD.match(n.original).group(1) for n in nodes]
    upper = sum(1 for k in keywords if k.isupper())
    lower = sum(1 for k in keywords if k.islower())
    want_upper = upper >= lower
    for n, k in zip(nodes, keywords):
        if (want_upper and not k.isupper()) or (not want_upper and not k.islower()):
            yield "instruction-casing", n, f"Command '{k}' should match the case of the command majority " \
                                           f"({'uppercase' if want_upper else 'lowercase'})"



def unknown_instructions(stages, final, facts):
    """What the build would refuse as no instruction at all, as hadolint's parse error."""
    from distill.suggest import did_you_mean
    from distill.build.dockerfile.parser import INSTRUCTIONS

    for n in list(facts.before_from) + [n for s in stages for n in s.nodes]:
        if n.value not in INSTRUCTIONS:
            yield "unknown-instruction", n, f"unknown instruction: {n.value.upper()}" + \
                did_you_mean(n.value, INSTRUCTIONS, str.upper)


def json_args(stages, final, facts):
    for s in stages:
        for n in s.nodes:
            if n.value in ("cmd", "entrypoint") and not n.json:
                yield "json-args-recommended", n, f"JSON arguments recommended for {n.value.upper()} to prevent " \
                                                  "unintended behavior related to OS signals"
            elif n.value == "healthcheck" and n.args[:1] == ["CMD"] and not n.json:  # hadolint's DL3025 too
                yield "json-args-recommended", n, "JSON arguments recommended for HEALTHCHECK CMD to prevent " \
                                                  "unintended behavior related to OS signals"



def maintainer(stages, final, facts):
    for s in stages:
        for n in s.nodes:
            if n.value == "maintainer":
                yield "maintainer-deprecated", n, "Maintainer instruction is deprecated in favor of using label"



def workdirs(stages, final, facts):
    for s in stages:  # every relative one, as hadolint (BuildKit: only before an absolute one)
        for n in s.nodes:
            if n.value != "workdir" or not n.args:
                continue
            path = n.args[0].strip("\"'")
            if not (path.startswith(("/", "$")) or re.match(r"[A-Za-z]:[\\/]", path)):
                yield "workdir-relative", n, f"Relative workdir '{path}' can have unexpected results if the base " \
                                             "image changes"



def multiple(stages, final, facts):
    for s in stages:
        for kind in ("cmd", "entrypoint", "healthcheck"):
            found = [n for n in s.nodes if n.value == kind]
            for n in found[1:]:  # each after the first, as hadolint reports them
                yield "multiple-instructions", n, f"Multiple {kind.upper()} instructions should not be used in the " \
                                                  "same stage because only the last one will be used"



def key_values(stages, final, facts):
    for s in stages:
        for n in s.nodes:
            if n.value in ("env", "label") and len(n.args) >= 3 and n.args[2] == "":
                yield "legacy-key-value", n, f"\"{n.value.upper()} key=value\" should be used instead of legacy " \
                                             f"\"{n.value.upper()} key value\" format"



def expose(stages, final, facts):
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



def secrets(stages, final, facts):
    for s in [None] + list(stages):
        for n in (facts.global_args if s is None else s.nodes + s.triggers):
            if n.value not in ("arg", "env"):
                continue
            keys = n.args[0::3] if n.value == "env" else [a.split("=", 1)[0] for a in n.args]
            for key in keys:
                if _SECRET.search(key):
                    yield "secrets-in-arg-env", n, f"Do not use ARG or ENV instructions for sensitive data " \
                                                   f"({n.value.upper()} \"{key}\")"



def from_args(stages, final, facts):
    declared = {a.split("=", 1)[0] for n in facts.global_args for a in n.args}
    builtin = {"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM", "BUILDOS",
               "BUILDARCH", "BUILDVARIANT"}
    for s in stages:
        for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", s.base):
            if name not in declared and name not in builtin:
                yield "undefined-arg-in-from", s.node, f"FROM argument '{name}' is not declared"



def images(stages, final, facts):
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



def copies(stages, final, facts):
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
            source = flag_value(n, "from")
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



def ignore_pragmas(stages, final, facts):
    for i, line in enumerate(facts.lines):
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



def label_schema(stages, final, facts):
    """The configuration's label schema: each LABEL's values by their type, and the labels
    the stage that ships lacks (at its FROM: a builder stage's labels never reach the
    image, where hadolint asks every stage for them)."""
    schema, strict = facts.options.labels or {}, facts.options.strict_labels
    if not schema and not strict:
        return
    from distill.analyze.lint.labels import TYPES

    for s in stages:
        for n in s.nodes:
            if n.value != "label":
                continue
            pairs = [(unquote(k), unquote(v)) for k, v in zip(n.args[0::3], n.args[1::3])]
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
        have = {unquote(k) for s in shipped(stages, final) for n in s.nodes if n.value == "label"
                for k in n.args[0::3]}
        for label in schema:
            if label not in have:
                yield "label-missing", final.node, f"Label `{label}` is missing."



def final_stage(stages, final, facts):
    """Rules about the running image: the stage built, never a builder stage."""
    if final is None:
        return
    users = [n for n in final.nodes if n.value == "user"]
    if users and users[-1].args and users[-1].args[0].split(":")[0] in ("root", "0"):
        yield "root-user", users[-1], "Last USER should not be root"
    if not any(n.value == "healthcheck" for n in final.nodes):
        yield "no-healthcheck", final.node, "`HEALTHCHECK` instruction missing."



_LABEL_KEY = re.compile(r"[a-z0-9]([a-z0-9]|[.-](?=[a-z0-9]))*")



def instructions(stages, final, facts):
    for n in facts.before_from:
        yield "instruction-order", n, "Invalid instruction order. Dockerfile must begin with `FROM`, `ARG` or comment."
        break
    for s in stages:
        flag = flag_value(s.node, "platform")
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



def buildkit_more(stages, final, facts):
    defaults = {}
    for n in facts.global_args:
        for a in n.args:
            key, eq, value = a.partition("=")
            defaults[key] = value if eq else None
        if n.comments and len(n.args) == 1:
            yield from _description(n, n.args[0].split("=", 1)[0], facts.lines)
    for s in stages:
        platform = flag_value(s.node, "platform")
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
            yield from _description(s.node, s.name, facts.lines)
        for n in s.nodes:
            if n.value == "arg" and n.comments and len(n.args) == 1:
                yield from _description(n, n.args[0].split("=", 1)[0], facts.lines)
    ignore = (facts.options.context or {}).get("dockerignore_text")
    if ignore:
        from distill.build.context.ignore import Matcher

        matcher = Matcher.from_text(ignore)
        for s in stages:
            for n in s.nodes:
                if n.value not in ("copy", "add") or flag_value(n, "from") is not None or n.json:
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



def variables(stages, final, facts):
    """BuildKit's UndefinedVar (where the base image's ENV is known: a stage, scratch, or
    an image in the store) and InvalidBaseImagePlatform."""
    bases = facts.options.bases or {}
    env_of: dict[int, set] = {}
    for s in stages:
        parent = stage_named(stages, s.base) if s.base else None
        if parent is not None and parent.index < s.index:
            known = set(env_of.get(parent.index, set()))
        elif s.base == "scratch":
            known = set()
        elif s.base in bases:
            known = set(bases[s.base]["env"])
            platform = bases[s.base].get("platform")
            wanted = facts.options.platform
            if platform and wanted and platform != wanted and flag_value(s.node, "platform") is None:
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



def registries(stages, final, facts):
    trusted = facts.options.trusted
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



CHECKS = (stage_names, casing, unknown_instructions, json_args, maintainer, workdirs, multiple, key_values, expose, secrets, from_args,
          shell_commands, images, copies, consecutive_runs, final_stage, more_commands, instructions, practices,
          context_checks, registries, buildkit_more, variables, archives, ignore_pragmas, label_schema)
