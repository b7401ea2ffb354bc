"""Checks of RUN scripts: package managers (apt, apk, pip, npm, ...), pinning and caches,
commands that make no sense in a container, consecutive RUNs, archives extracted by RUN.
Each yields (rule id, node, message). Pure."""

from __future__ import annotations

import re

from distill.analyze.lint.model import shipped, run_script, runs, flag_value, unquote


# ---- hadolint's checks ----------------------------------------------------------------------
def shell_commands(stages, final, facts):
    for s, n, cmds in runs(stages):
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
            yield from _pip(n, c, s, facts)
        if any(len(c) > 0 for c in cmds) and "|" in run_script(n) and not facts.pipefail.get(id(n)) and \
                facts.posix_shell.get(id(n), True) and \
                re.search(r"[^|]\|[^|]", run_script(n)):
            yield "pipefail", n, "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using " \
                                 "/bin/sh in an alpine image or if your shell is symlinked to busybox then consider " \
                                 "explicitly setting your SHELL to /bin/ash, or disable this check"
    for s in shipped(stages, final):
        for n in s.nodes:
            if n.value == "run" and ("apt-get install" in run_script(n) or "apt-get update" in run_script(n)) and \
                    "/var/lib/apt/lists" not in run_script(n) and "apt-get dist-clean" not in run_script(n) and \
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
    # a $VARIABLE's packages are not known pinned: flagged, as hadolint does
    if any("=" not in p and not p.endswith(".deb") for p in packages):
        yield "apt-unpinned", n, "Pin versions in apt get install. Instead of `apt-get install <package>` use " \
                                 "`apt-get install <package>=<version>`"



def _pip_words(c: list[str]) -> list[str] | None:
    """The words after `pip` (pip, pip3, /venv/bin/pip, python3 -m pip), else None."""
    if c and re.fullmatch(r"(.*/)?pip[\d.]*", c[0]):
        return c[1:]
    if len(c) > 2 and re.fullmatch(r"(.*/)?python[\d.]*", c[0]) and c[1:3] == ["-m", "pip"]:
        return c[3:]
    return None



def _pip(n, c, stage, facts):
    words = _pip_words(c)
    if not words or words[0] != "install":
        return
    args = words[1:]
    if "--no-cache-dir" not in args and not facts.pip_no_cache.get(stage.index) and "--mount=type=cache" not in \
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



def consecutive_runs(stages, final, facts):
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



_POINTLESS = {"ssh", "vim", "shutdown", "service", "ps", "free", "top", "kill", "mount", "ifconfig"}



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



def more_commands(stages, final, facts):
    tools_seen: dict[str, int] = {}
    for s, n, cmds in runs(stages):
        script = run_script(n)
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
                if any("=" not in p for p in pkgs):  # a $VARIABLE too, as hadolint
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
                if not {"-y", "--assumeyes"} & set(c):
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
            if tool == "go" and len(c) > 2 and c[1] in ("install", "get", "run"):
                pkgs = [w for w in c[2:] if not w.startswith("-")]
                if any("@" not in p or p.endswith("@latest") for p in pkgs if not p.startswith((".", "/"))
                       and not p.endswith(".go")):
                    yield "go-unpinned", n, f"Pin versions in go. Instead of `go {c[1]} <package>` use `go {c[1]} " \
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



_ARCHIVE = (".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz", ".tlz", ".tpz",
            ".txz", ".xz")

_DECOMPRESSORS = {"unzip", "gunzip", "bunzip2", "unlzma", "unxz", "zgz", "uncompress", "zcat", "gzcat"}



def _basename(path: str) -> str:
    return unquote(path).replace("\\", "/").rsplit("/", 1)[-1]



def _extracts(c: list[str]) -> bool:
    if c[0] == "tar":
        return any(a in ("--extract", "--get") or a.startswith("-") and not a.startswith("--") and "x" in a
                   for a in c[1:])
    return c[0] in _DECOMPRESSORS



def archives(stages, final, facts):
    """A local archive COPYed, then extracted by a RUN of the same stage: ADD does it in
    one layer, without the archive."""
    for s in stages:
        copied: dict[str, object] = {}  # archive's file name → the COPY
        reported = set()
        for n in s.nodes:
            if n.value == "copy" and flag_value(n, "from") is None and len(n.args) >= 2:
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
