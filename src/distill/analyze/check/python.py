"""Will the Python program start? Once the kernel would run a Python interpreter (the
command names one, or a script's #! does, console scripts included), this finds what
that Python sees (pyruntime.py) and follows the program as it would import: the file of
`python FILE`, the module of `python -m MOD`, the application module a WSGI/ASGI server
is given, then every module they import, the application's and its packages' own modules
followed (the standard library's are trusted), each extension module's shared libraries
resolved as the loader would, and each installed wheel's tags held against this Python
and this C library."""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from distill.analyze.check.elf import newest_glibc
from distill.analyze.check.elf import read as read_elf
from distill.analyze.check.pyimports import imports
from distill.analyze.check.pyruntime import PYTHON_NAME, Runtime
from distill.analyze.check.wheels import ARCH, wheel_tags, why_not

MAX_MODULES = 3000          # modules followed from the entry
SOURCE_MAX = 4 << 20        # a larger source file is not read
SERVERS = {"gunicorn", "uvicorn", "hypercorn", "daphne", "waitress-serve"}  # take an app module as an argument
APP_FLAGS = {"flask": ("--app", "-A"), "celery": ("--app", "-A")}  # CLIs told of the app by a flag (or FLASK_APP)
_APP_SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_][\w.]*(\(.*\))?)?")
_OPTION_WITH_VALUE = set("cmWX")


class Program(NamedTuple):
    interpreter: str     # the Python executable, as the kernel or exec will run it
    flags: frozenset     # one-letter options (-I, -E, -s, -S, -P, -u, ...)
    mode: str            # "file", "module", "code" or "stdin"
    target: str | None   # the file, module or code
    args: tuple          # what the program itself is given


def python_program(start, argv: list[str], program: str) -> Program | None:
    """The Python program `argv` starts (`program` is argv[0] found), else None."""
    fs = start.fs
    if _is_python(fs, program):
        return _command_line(program, argv[1:])
    node = fs.stat(program, follow=True)
    head = fs.head(node, 1024) if node is not None and node.inode.type == "0" else b""
    if not head.startswith(b"#!"):
        return None
    lines = head.split(b"\n")
    text = lines[0][2:].decode("utf-8", "replace").strip()
    interpreter, _, arg = text.partition(" ")
    words = arg.split()
    if posixpath.basename(interpreter) == "env" and words:
        interpreter, words = start.which(words[0]) or "", words[1:]
    elif posixpath.basename(interpreter) == "sh" and len(lines) > 1 and lines[1].startswith(b"'''exec' "):
        interpreter = lines[1].split()[1].decode("utf-8", "replace")  # pip's form for a #! line too long
        words = []
    if not interpreter or not _is_python(fs, interpreter):
        return None
    flags = frozenset(ch for w in words if w.startswith("-") for ch in w[1:])
    return Program(interpreter, flags, "file", program, tuple(argv[1:]))


def _is_python(fs, path: str) -> bool:
    real = fs.realpath(path) or path
    return bool(PYTHON_NAME.fullmatch(posixpath.basename(path)) or PYTHON_NAME.fullmatch(posixpath.basename(real)))


def _command_line(interpreter: str, words: list[str]) -> Program:
    """python's own options, then -c CODE, -m MOD, FILE or - (as Python parses them)."""
    flags: set[str] = set()
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-" or not w.startswith("-"):
            mode = "stdin" if w == "-" else "file"
            return Program(interpreter, frozenset(flags), mode, None if w == "-" else w, tuple(words[i + 1:]))
        i += 1
        if w.startswith("--"):
            continue
        for j, ch in enumerate(w[1:], 1):
            if ch in _OPTION_WITH_VALUE:
                value = w[j + 1:]
                if not value and i < len(words):
                    value, i = words[i], i + 1
                if ch in "cm":
                    return Program(interpreter, frozenset(flags), {"c": "code", "m": "module"}[ch], value,
                                   tuple(words[i:]))
                break
            flags.add(ch)
    return Program(interpreter, frozenset(flags), "stdin", None, ())


class PythonCheck:
    def __init__(self, start, program: Program):
        self.start, self.fs, self.p = start, start.fs, program
        workdir = start.workdir
        path0 = {"file": None, "module": workdir, "code": workdir, "stdin": workdir}[program.mode]
        self.file = None
        if program.mode == "file":
            self.file = start.at(program.target)
            real = self.fs.realpath(self.file)
            path0 = posixpath.dirname(real or self.file)
        self.rt = Runtime(start, program.interpreter, set(program.flags), path0)
        self.required: set[str] = set()      # every module the start imports where a failure stops it
        self.missing: dict[str, dict] = {}   # module → its finding

    def run(self) -> None:
        rt, p = self.rt, self.p
        self.start.facts["python"] = rt.facts()
        if rt.version is None or not self.fs.is_file(f"{rt.stdlib}/encodings/__init__.py") and not self.fs.is_file(
                f"{rt.stdlib}/encodings/__init__.pyc"):
            where = f"{rt.prefix}/lib/python{'.'.join(map(str, rt.version))}" if rt.version else "lib/python3.X"
            self.add("python-stdlib-missing", f"{p.interpreter}: Python's standard library is not in the image "
                     f"(no {where}/encodings): it stops at start (ModuleNotFoundError: No module named 'encodings')",
                     p.interpreter)
            return
        entry = self.entry()
        if entry is None:
            return
        self.follow(entry)
        self.wheels()

    def add(self, rule: str, message: str, path: str | None, **more) -> None:
        self.start.add(rule, message, path, **more)

    # ---- the entry ----------------------------------------------------------------------
    def entry(self) -> list | None:
        """The first sources to read: [(path, package, required)]."""
        p, rt = self.p, self.rt
        todo = []
        if p.mode == "file":
            if not self.fs.is_file(self.file):
                self.add("python-file-missing", f"{p.interpreter}: can't open file {self.file!r}: [Errno 2] No such "
                         "file or directory", self.file, program=self.file)
                return None
            todo.append((self.file, "", True, "app"))
        elif p.mode == "module":
            name = p.target
            found, missing = rt.find(name)
            if found is not None and found.search:
                name = p.target + ".__main__"
                found, missing = rt.find(name)
                if found is None:
                    missing = f"{p.target}.__main__; '{p.target}' is a package and cannot be directly executed"
            if found is None:
                self.add("python-module-missing", f"{p.interpreter} -m {p.target}: No module named {missing} on "
                         f"sys.path ({self._path_text()})", p.target, module=p.target)
                return None
            if found.path and found.path.endswith(".py"):
                todo.append((found.path, _package_of(name, found), True, found.where))
        elif p.mode == "code":
            todo.append((None, "", True, "app"))
        if p.mode == "file" and posixpath.basename(self.file) in SERVERS:
            todo += self.app_modules()
        tool = posixpath.basename(self.file) if p.mode == "file" else p.target if p.mode == "module" else None
        if tool in APP_FLAGS:
            todo += self.cli_app(tool)
        return todo

    def cli_app(self, tool: str) -> list:
        """`flask run`, `celery -A proj worker`: the CLI imports the application it is told
        of (--app / -A; for flask FLASK_APP, else wsgi.py or app.py in the working
        directory, as Flask's discovery looks), with the working directory on sys.path."""
        args, spec = list(self.p.args), None
        for i, a in enumerate(args):
            if a in APP_FLAGS[tool] and i + 1 < len(args):
                spec = args[i + 1]
            elif a.startswith("--app="):
                spec = a.split("=", 1)[1]
        spec = spec or (self.start.env.get("FLASK_APP") if tool == "flask" else None)
        cwd = ((self.start.workdir, "app"),)
        candidates = [spec] if spec else ["wsgi", "app"] if tool == "flask" else []
        for candidate in candidates:
            module = candidate.split(":")[0].removesuffix(".py").strip("/").replace("/", ".")
            found, missing = self.rt.find(module, cwd)
            if found is not None:
                return [(found.path, _package_of(module, found), True, found.where)] \
                    if found.path and found.path.endswith(".py") else []
        if candidates:
            self.add("import-missing", f"{tool}: could not import the application {spec or 'wsgi.py or app.py'} "
                     f"(looked in {self.start.workdir} and on sys.path: {self._path_text()})",
                     spec or "app", module=spec or "app")
        return []

    def app_modules(self) -> list:
        """gunicorn mysite.wsgi / uvicorn main:app: the server imports the application
        module with the working directory on sys.path."""
        out = []
        cwd = ((self.start.workdir, "app"),)
        for arg in self.p.args:
            if arg.startswith("-") or not _APP_SPEC.fullmatch(arg) or (":" not in arg and arg != self.p.args[-1]):
                continue
            module = arg.split(":")[0]
            found, missing = self.rt.find(module, cwd)
            if found is None:
                self.add("import-missing", f"{posixpath.basename(self.file)} is given the application {arg!r}: "
                         f"ModuleNotFoundError: No module named {missing!r} (looked in {self.start.workdir} and on "
                         f"sys.path: {self._path_text()})", module, module=module)
                continue
            if found.path and found.path.endswith(".py"):
                out.append((found.path, _package_of(module, found), True, found.where))
        return out

    # ---- imports ------------------------------------------------------------------------
    def follow(self, todo: list) -> None:
        """Breadth first over the modules the entry imports, reading each wave's sources
        together (one pass over a compressed layer)."""
        done: set[str | None] = set()
        count = 0
        while todo and count < MAX_MODULES:
            sources = self._read([path for path, *_ in todo if path is not None])
            wave, todo = todo, []
            for path, package, required, where in wave:
                if path in done:
                    continue
                done.add(path)
                count += 1
                text = self.p.target if path is None else sources.get(path)
                if text is None:
                    continue
                for imp in imports(text, package):
                    found = self._import(imp, required, path or "-c", where)
                    if found is None or found.path is None or found.path in done or found.where == "stdlib":
                        continue
                    if found.path.endswith(".py"):
                        todo.append((found.path, _package_of(imp.module, found), required and imp.required,
                                     found.where))
                    elif found.path.endswith(".so") and required and imp.required:
                        done.add(found.path)
                        self.extension(found.path)

    def _import(self, imp, required: bool, importer: str, where: str):
        if required and imp.required:
            self.required.add(imp.module)
        found, missing = self.rt.find(imp.module)
        if found is not None:
            return found
        if imp.maybe:
            return None
        required = required and imp.required
        if where != "app" and (not required or missing != imp.module.split(".")[0]):
            return None  # a package's optional dependency, or a submodule it may make at run time
        rule = "import-missing" if required else "import-optional-missing"
        earlier = self.missing.get(missing)
        if earlier is not None and (earlier["rule"] == "import-missing" or rule != "import-missing"):
            return None
        if earlier is not None:
            self.start.findings.remove(earlier)
        how = "" if required else " (only in a function, a branch or a try that handles ImportError)"
        self.add(rule, f"{importer}:{imp.line} imports {imp.module}: ModuleNotFoundError: No module named "
                 f"{missing!r}{how} (sys.path: {self._path_text()})", imp.module, module=imp.module,
                 importer=importer, importer_line=imp.line)
        self.missing[missing] = self.start.findings[-1]
        return None

    def extension(self, path: str) -> None:
        """An extension module is loaded as a shared library: its DT_NEEDED must resolve."""
        facts = read_elf(self.fs, path)
        if facts is not None:
            self.start.libraries(path, facts, musl=self.rt.libc_kind == "musl")

    def _read(self, paths: list[str]) -> dict[str, bytes]:
        """The regular files among `paths` (up to SOURCE_MAX each), read together: a
        layer's in one pass over its blob."""
        names: dict[int, list[str]] = {}
        inodes = []
        for path in paths:
            node = self.fs.stat(path, follow=True)
            if node is not None and node.inode.type == "0" and node.inode.size <= SOURCE_MAX:
                if id(node.inode) not in names:
                    inodes.append(node.inode)
                names.setdefault(id(node.inode), []).append(path)
        out = {}
        for node, stream in self.fs.contents(inodes):
            data = stream.read(node.size)
            for path in names[id(node)]:
                out[path] = data
        return out

    def _path_text(self) -> str:
        return ", ".join(d for d, _ in self.rt.sys_path if not d.endswith(".zip") and self.fs.is_dir(d))

    # ---- wheels -------------------------------------------------------------------------
    def wheels(self) -> None:
        """Each installed distribution's WHEEL tags against this Python and C library: an
        error when the program's start imports one of its extension modules (where
        ImportError is not handled), else a warning."""
        rt = self.rt
        libc = self.libc()
        arch = ARCH.get(self.start.architecture or "amd64", self.start.architecture or "")
        for site, where in rt.sys_path:
            node = self.fs.stat(site, follow=True) if where != "stdlib" else None
            infos = sorted(n for n in (node.children or {}) if n.endswith(".dist-info")) if node is not None else []
            texts = self._read([f"{site}/{d}/{f}" for d in infos for f in ("WHEEL", "RECORD")])
            for info in infos:
                tags = wheel_tags(texts.get(f"{site}/{info}/WHEEL", b"").decode("utf-8", "replace"))
                reason = why_not(tags, rt.version, libc, arch)
                if reason is None:
                    continue
                record = texts.get(f"{site}/{info}/RECORD", b"").decode("utf-8", "replace")
                used = sorted(_extension_modules(record) & self.required)
                name = info[:-len(".dist-info")]
                if used:
                    self.add("wheel-incompatible", f"{site}/{info}: {reason}; the program imports its extension "
                             f"{', '.join(used)} as it starts", f"{site}/{info}", distribution=name)
                else:
                    self.add("wheel-incompatible-unused", f"{site}/{info}: {reason} (none of its extension modules "
                             "is imported at start, or only where ImportError is handled)", f"{site}/{info}",
                             distribution=name)

    def libc(self) -> tuple[str, tuple[int, int]] | None:
        """("glibc", (2, 36)) from the newest GLIBC_2.x libc.so.6 defines; ("musl", (1, 2))."""
        if self.rt.libc_kind == "musl":
            return "musl", (1, 2)
        facts = read_elf(self.fs, self.rt.real)
        if facts is None:
            return None
        found = self.start.find_library("libc.so.6", self.rt.real, facts, False)
        libfacts = read_elf(self.fs, found) if found else None
        newest = newest_glibc((libfacts or {}).get("verdef", []))
        return ("glibc", newest[1][:2]) if newest else None


def _package_of(module: str, found) -> str:
    """The package a module's relative imports start from."""
    return module if found.search else module.rpartition(".")[0]


def _extension_modules(record: str) -> set[str]:
    """The dotted names of the extension modules a RECORD lists (a/b/_c.cpython-311-….so → a.b._c)."""
    out = set()
    for line in record.splitlines():
        path = line.split(",", 1)[0]
        if path.endswith(".so") and not path.startswith(".."):
            head, _, base = path.rpartition("/")
            name = base.split(".", 1)[0]
            out.add(f"{head.replace('/', '.')}.{name}" if head else name)
    return out


def check_python(start, argv: list[str], program: str) -> bool:
    p = python_program(start, argv, program)
    if p is None:
        return False
    PythonCheck(start, p).run()
    return True
