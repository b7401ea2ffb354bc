"""Will the process start? The path runc and the kernel take (ANALYSIS-FACTS §2), walked
over an image's files (imagefs) without running anything: the command docker builds from
ENTRYPOINT and CMD, USER, the program found on PATH, its execute bit, then what execve
does with it: a #! script's interpreter (and /usr/bin/env's NAME), an ELF program's
architecture and dynamic loader. Pure over an ImageFS and the image config."""

from __future__ import annotations

import posixpath
import re

from distill.analyze.check.elf import ld_so_cache
from distill.analyze.check.elf import newest_glibc
from distill.analyze.check.elf import read as read_elf
from distill.analyze.check.rules import MACHINES, RULES

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_DEPTH = 4  # interpreters of interpreters
MAX_LIBRARIES = 512
_MUSL_SELF = re.compile(r"lib(c|pthread|rt|m|dl|util|xnet)\..*")  # names musl's loader answers itself
_SIMPLE_WORD = re.compile(r"[A-Za-z0-9_./+-]+")
_SHELL_WORDS = frozenset("! { } case do done elif else esac fi for if in then until while exec command . : true "
                         "false test [ echo printf cd export set unset read trap wait eval exit return shift".split())


class Finding(dict):
    """{rule, severity, message, path, stage, line}: a dict, so it prints as JSON."""

    def __init__(self, rule: str, message: str, path: str | None = None, **more):
        severity, _ = RULES[rule]
        super().__init__(rule=rule, severity=severity, message=message, path=path, stage=None, line=None, **more)


class Start:
    def __init__(self, fs, config: dict, architecture: str | None = None):
        self.fs = fs
        self.c = config.get("config") or {}
        self.architecture = architecture or config.get("architecture")
        env = {}
        for item in self.c.get("Env") or []:
            k, _, v = item.partition("=")
            env[k] = v
        self.env = env
        self.path = env.get("PATH", DEFAULT_PATH)
        self.workdir = self.c.get("WorkingDir") or "/"
        self.findings: list[Finding] = []
        self.facts: dict = {}                    # what was learnt on the way (the Python that runs)
        self.uid = 0
        self.gids: tuple[int, ...] = (0,)
        self.loader: str | None = None           # the last ELF program's PT_INTERP
        self._cache: dict[str, str] | None = None  # /etc/ld.so.cache, once read
        self._dirs: list[str] | None = None      # the loader's default dirs, once read

    # ---- the walk ----------------------------------------------------------------------
    def run(self) -> list[Finding]:
        argv = list(self.c.get("Entrypoint") or []) + list(self.c.get("Cmd") or [])
        if not argv:
            self.add("no-command", "the image has no ENTRYPOINT or CMD")
            return self.findings
        self.user()
        node = self.fs.stat(self.workdir, follow=True)
        if node is None or node.inode.type != "5":
            self.add("workdir-missing", f"WORKDIR {self.workdir} does not exist: runc makes it empty", self.workdir)
        shell = self.shell_command(argv)
        program = self.program(argv[0], shell_form=shell is not None)
        if program is not None:
            self.execve(program, argv, 0)
            if shell is not None:
                self.shell_first_word(shell)
            elif not self.errors():
                self.language(argv, program)
        return self.findings

    def at(self, *names: str) -> str:
        """A path as the process sees it: relative ones from WORKDIR."""
        return posixpath.normpath(posixpath.join(self.workdir, *names))

    def errors(self) -> bool:
        return any(f["severity"] == "error" for f in self.findings)

    def language(self, argv: list[str], program: str) -> None:
        """What the runtime the kernel started will do next: a Python program's imports, a
        Node program's modules, a Java program's jar and main class."""
        from distill.analyze.check.java import check_java
        from distill.analyze.check.node import check_node
        from distill.analyze.check.python import check_python

        for runtime in (check_python, check_node, check_java):
            if runtime(self, argv, program):
                return

    def add(self, rule: str, message: str, path: str | None = None, **more) -> None:
        self.findings.append(Finding(rule, message, path, **more))

    # ---- USER --------------------------------------------------------------------------
    def user(self) -> None:
        spec = self.c.get("User") or ""
        if not spec:
            return
        name, _, group = spec.partition(":")
        passwd = self._text("/etc/passwd")
        uid = gid = None
        if name.isdigit():
            uid = int(name)
            for row in _rows(passwd):
                if row[2:3] == [name] and len(row) > 3 and row[3].isdigit():
                    gid = int(row[3])
        else:
            for row in _rows(passwd):
                if row[0] == name and len(row) > 3 and row[2].isdigit() and row[3].isdigit():
                    uid, gid = int(row[2]), int(row[3])
                    break
            if uid is None:
                self.add("user-unknown", f"USER {spec}: unable to find user {name}: no matching entries in passwd "
                         "file", "/etc/passwd", user=name)
                return
        gids = {gid if gid is not None else 0}
        if group:
            if group.isdigit():
                gids = {int(group)}
            else:
                found = [row for row in _rows(self._text("/etc/group")) if row[0] == group and row[2:3] and
                         row[2].isdigit()]
                if not found:
                    self.add("group-unknown", f"USER {spec}: unable to find group {group}: no matching entries in "
                             "group file", "/etc/group", group=group)
                    return
                gids = {int(found[0][2])}
        self.uid, self.gids = uid, tuple(gids)

    # ---- the program -------------------------------------------------------------------
    def shell_command(self, argv: list[str]) -> str | None:
        """The command string of a shell form (`sh -c "…"`), else None."""
        shell = list(self.c.get("Shell") or ["/bin/sh", "-c"])
        if len(argv) == len(shell) + 1 and argv[:len(shell)] == shell:
            return argv[-1]
        return None

    def program(self, name: str, shell_form: bool = False, what: str = "") -> str | None:
        """The absolute path exec will run for argv[0] (as Go's exec.LookPath in runc), or
        None with a finding."""
        if "/" in name:
            path = self.at(name)
            return path if self.runnable(path, name, shell_form, what) else None
        found = self.which(name)
        if found is not None:
            return found
        seen = [c for c in self._candidates(name) if self.fs.stat(c, follow=False) is not None]
        rule = "shell-missing" if shell_form else "not-on-path"
        near = f" ({', '.join(seen)} exist but cannot be run)" if seen else ""
        self.add(rule, f"{what or 'the command'} {name!r}: executable file not found in $PATH ({self.path}){near}",
                 name, program=name)
        return None

    def which(self, name: str) -> str | None:
        """The first file on PATH named `name` with an execute bit, else None."""
        for candidate in self._candidates(name):
            node = self.fs.stat(candidate, follow=True)
            if node is not None and node.inode.type == "0" and node.inode.mode & 0o111:
                return candidate
        return None

    def _candidates(self, name: str) -> list[str]:
        return [self.at(d or ".", name) for d in self.path.split(":")]

    def runnable(self, path: str, shown: str, shell_form: bool = False, what: str = "") -> bool:
        what = what or "the command"
        node = self.fs.stat(path, follow=False)
        if node is None:
            rule = "shell-missing" if shell_form else "not-found"
            self.add(rule, f"{what} {shown}: no such file in the image", path, program=path)
            return False
        target = self.fs.stat(path, follow=True)
        if target is None:
            self.add("dangling-symlink", f"{what} {shown}: {path} is a symlink to {node.linkname}, which is not in the "
                     "image", path, program=path)
            return False
        inode = target.inode
        if inode.type != "0":
            self.add("not-a-file", f"{what} {shown}: {path} is not a regular file", path, program=path)
            return False
        if not self.may_execute(inode):
            self.add("no-exec-bit", f"{what} {shown}: {path} has mode {inode.mode:04o}: permission denied for uid "
                     f"{self.uid}", path, program=path)
            return False
        return True

    def may_execute(self, inode) -> bool:
        if self.uid == 0:
            return bool(inode.mode & 0o111)
        if inode.uid == self.uid:
            return bool(inode.mode & 0o100)
        if inode.gid in self.gids:
            return bool(inode.mode & 0o010)
        return bool(inode.mode & 0o001)

    # ---- execve ------------------------------------------------------------------------
    def execve(self, path: str, argv: list[str], depth: int) -> None:
        node = self.fs.stat(path, follow=True)
        head = self.fs.head(node, 256)  # the kernel reads a #! line from 256 bytes
        if head.startswith(b"#!"):
            self.script(path, head, depth)
        elif head.startswith(b"\x7fELF"):
            self.elf(path, node)
        else:
            self.add("exec-format", f"{path}: exec format error (neither #! nor ELF)", path)

    def script(self, path: str, head: bytes, depth: int) -> None:
        line = head[2:].split(b"\n", 1)[0]
        if line.endswith(b"\r"):
            self.add("shebang-crlf", f"{path}: the #! line ends in CR: the kernel looks for "
                     f"{line.strip().decode(errors='replace')!r}", path)
            return
        text = line.decode("utf-8", "replace").strip()
        interpreter, _, arg = text.partition(" ")
        interpreter, arg = interpreter.strip(), arg.strip()
        if not interpreter:
            self.add("exec-format", f"{path}: an empty #! line", path)
            return
        if not self.interpreter_ok(interpreter, path, depth):
            return
        if posixpath.basename(interpreter) == "env" and arg:
            name = arg  # one argument: `env python3 -u` seeks "python3 -u"
            if name.startswith("-"):
                return  # env's own options: not followed
            found = self.program(name, what=f"{path}'s #!/usr/bin/env")
            if found is None:
                self.findings[-1]["rule"] = "env-target-missing"
                self.findings[-1]["severity"] = RULES["env-target-missing"][0]
            elif depth < MAX_DEPTH:
                self.execve(found, [], depth + 1)

    def interpreter_ok(self, interpreter: str, script: str, depth: int) -> bool:
        node = self.fs.stat(interpreter, follow=True)
        if node is None or node.inode.type != "0":
            end = self.link_end(interpreter)
            via = f" (a symlink to {end}, which is not)" if end != interpreter else ""
            self.add("interpreter-missing", f"{script} starts with #!{interpreter}, which is not in the image{via}",
                     end, program=end, script=script)
            return False
        if depth < MAX_DEPTH:
            self.execve(interpreter, [], depth + 1)
        elif self.fs.head(node, 2) == b"#!":  # a cycle (#!/a in /b, #!/b in /a), or a chain as long
            self.add("interpreter-loop", f"{script} starts with #!{interpreter}, whose #! interpreters nest past "
                     f"the kernel's bound (execve: ELOOP, Too many levels of symbolic links)", interpreter,
                     program=interpreter, script=script)
            return False
        return True

    def link_end(self, path: str) -> str:
        """Where a chain of symlinks ends (the missing file a dangling one names)."""
        for _ in range(40):
            node = self.fs.stat(path, follow=False)
            if node is None or node.type != "2":
                return path
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), node.linkname))
        return path

    def elf(self, path: str, node) -> None:
        facts = read_elf(self.fs, path)
        if facts is None:
            self.add("exec-format", f"{path}: a malformed ELF header", path)
            return
        machine = MACHINES.get(self.architecture or "")
        if machine is not None and facts["machine"] != machine:
            self.add("elf-arch", f"{path}: built for ELF machine {facts['machine']}, the image is "
                     f"{self.architecture}", path)
            return
        interp = facts.get("interp")
        self.loader = interp
        if interp and self.fs.stat(interp, follow=True) is None:
            self.add("elf-interp-missing", f"{path} is dynamically linked: its loader {interp} is not in the image "
                     "(no such file or directory)", interp, program=interp, binary=path)
            return
        if interp:
            # $ORIGIN of a program is the directory of the file itself (/proc/self/exe, links resolved)
            self.libraries(self.fs.realpath(path) or path, facts, musl="musl" in posixpath.basename(interp))

    # ---- the dynamic loader -------------------------------------------------------------
    def libraries(self, program: str, facts: dict, musl: bool) -> None:
        """Every DT_NEEDED, recursively, found as ld.so (or musl's loader) would find it."""
        todo = [(program, facts)]
        seen: dict[str, str] = {}
        while todo and len(seen) < MAX_LIBRARIES:
            needer, f = todo.pop(0)
            for name in f["needed"]:
                if name in seen:
                    continue
                found = self.find_library(name, needer, f, musl)
                seen[name] = found or ""
                if found is None:
                    self.add("library-missing", f"{needer} needs {name}, which the loader will not find "
                             f"(error while loading shared libraries: {name}: cannot open shared object file)",
                             name, library=name, binary=needer, machine=f["machine"])
                    continue
                lib = read_elf(self.fs, found)
                if lib is None:
                    continue
                todo.append((found, lib))
                self.versions(needer, f, name, found, lib)

    def versions(self, needer: str, facts: dict, name: str, found: str, lib: dict) -> None:
        """Each symbol version `needer` wants of `name` must be one `found` defines (as
        ld.so checks before anything runs: "version `GLIBC_2.34' not found")."""
        wanted = facts["verneed"].get(name) or []
        defined = set(lib["verdef"])
        missing = [v for v in wanted if v not in defined] if defined else []
        if missing:
            newest = newest_glibc(defined)
            floor = f"; it provides up to {newest[0]}" if newest else ""
            self.add("symbol-version-missing", f"{needer} needs {', '.join(missing)} of {name}, which {found} does "
                     f"not define (version `{missing[0]}' not found){floor}", found, library=name, binary=needer)

    def find_library(self, name: str, needer: str, facts: dict, musl: bool) -> str | None:
        if "/" in name:
            return name if self.fs.is_file(name) else None
        if self.loader and (name == posixpath.basename(self.loader) or musl and _MUSL_SELF.fullmatch(name)):
            # the loader itself, loaded already; musl's is also libc, libm, libpthread, ...
            return self.loader
        origin = posixpath.dirname(needer)
        dirs: list[str] = []
        if facts.get("rpath") and not facts.get("runpath"):
            dirs += facts["rpath"].split(":")
        dirs += [d for d in self.env.get("LD_LIBRARY_PATH", "").replace(";", ":").split(":") if d]
        if facts.get("runpath"):
            dirs += facts["runpath"].split(":")
        for d in dirs:
            lib = "lib64" if facts["class"] == 64 else "lib"
            d = d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin).replace("$LIB", lib)
            candidate = self.at(d, name)
            if self.fs.is_file(candidate):
                return candidate
        if musl:
            rest = self._musl_path() or ["/lib", "/usr/local/lib", "/usr/lib"]
        else:
            cached = self._ld_cache().get(name)
            if cached and self.fs.is_file(cached):
                return cached
            rest = self._system_dirs() or ["/lib", "/usr/lib"]
        for d in rest:
            candidate = posixpath.join(d, name)
            if self.fs.is_file(candidate):
                return candidate
        return None

    def _system_dirs(self) -> list[str]:
        """The loader's own default directories, as compiled into it (what `ld.so --help`
        lists: Debian's multiarch /lib/x86_64-linux-gnu, Fedora's /lib64, ...)."""
        if self._dirs is None:
            node = self.fs.stat(self.loader, follow=True) if self.loader else None
            data = self.fs.head(node, 4 << 20) if node is not None and node.inode.type == "0" else b""
            found = re.findall(rb"\0(/(?:usr/)?lib[0-9]*(?:/[A-Za-z0-9_.+-]+)?/)(?=\0)", data)
            self._dirs = list(dict.fromkeys(d.decode().rstrip("/") for d in found))
        return self._dirs


    def _ld_cache(self) -> dict[str, str]:
        if self._cache is None:
            node = self.fs.stat("/etc/ld.so.cache", follow=True)
            usable = node is not None and node.inode.type == "0"
            self._cache = ld_so_cache(self.fs.head(node, 16 << 20)) if usable else {}
        return self._cache

    def _musl_path(self) -> list[str]:
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(self.architecture or "", self.architecture or "")
        text = self._text(f"/etc/ld-musl-{arch}.path")
        return [d for d in text.replace("\n", ":").split(":") if d.strip()]

    def shell_first_word(self, command: str) -> None:
        """`sh -c "gunicorn app"`: the shell will look the first word up on PATH."""
        words = command.strip().split()
        if not words or not _SIMPLE_WORD.fullmatch(words[0]) or words[0] in _SHELL_WORDS or "=" in words[0]:
            return
        if any(ch in command for ch in "|&;<>()$`\\\"'*?\n"):
            return  # not a simple command: the shell decides
        found = self.program(words[0], what="the shell form's command")
        if found is None:
            self.findings[-1]["rule"] = "command-not-found"
            self.findings[-1]["severity"] = RULES["command-not-found"][0]
        elif not self.errors():
            self.language(words, found)

    # ---- reading -----------------------------------------------------------------------
    def _text(self, path: str) -> str:
        return self.fs.read_text(path) or ""


def _rows(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]
