"""The Python a command will start, as CPython's getpath and site would find it inside the
image (ANALYSIS-FACTS §3): the version, sys.prefix (a virtual environment's pyvenv.cfg,
PYTHONHOME, or the landmark lib/pythonX.Y/os.py above the real executable), sys.path
(the script's directory or the working directory, PYTHONPATH, the standard library,
lib-dynload, the user site and the site directories, Debian's dist-packages and .pth
lines), the modules built into the interpreter, and the extension suffixes it loads.
Then where `import a.b` finds a.b, by the path finder's rules. Pure over an ImageFS."""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from distill.analyze.check.elf import READ_MAX as BINARY_MAX
from distill.analyze.check.elf import read as read_elf
from distill.analyze.check.wheels import ARCH

PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?")
_LIB_DIR = re.compile(r"python(\d+)\.(\d+)")


class Found(NamedTuple):
    path: str | None          # the file (an __init__ for a package); None for a namespace or built-in
    search: tuple[str, ...]   # a package's directories (its __path__), () for a module
    where: str                # "builtin", "stdlib", "site" or "app"


class Runtime:
    def __init__(self, start, executable: str, flags: set[str], path0: str | None):
        """`executable` as invoked (absolute), `flags` the one-letter options given
        (-I, -E, -s, -S, -P), `path0` the sys.path[0] the mode gives (None for none)."""
        self.fs = start.fs
        self.start = start
        self._listings: dict[str, dict] = {}
        self._found: dict[tuple, tuple] = {}
        self.executable = executable
        self.real = self.fs.realpath(executable) or executable
        isolated = "I" in flags
        env = {} if ("E" in flags or isolated) else start.env
        self.venv, self.cfg = self._venv(executable)
        self.version, self.prefix = self._prefix(env)
        self.debian = False
        self.sys_path: list[tuple[str, str]] = []  # (dir, where)
        self.site_dirs: list[str] = []
        if self.version is None:
            return
        x, y = self.version
        self.stdlib = f"{self.prefix}/lib/python{x}.{y}"
        site_py = self.fs.read_text(f"{self.stdlib}/site.py") or ""
        self.debian = "dist-packages" in site_py
        if path0 is not None and not isolated and "P" not in flags and not env.get("PYTHONSAFEPATH"):
            self.sys_path.append((path0, "app"))
        for d in (env.get("PYTHONPATH") or "").split(":"):
            if d:
                self.sys_path.append((start.at(d), "app"))
        self.sys_path += [(f"{self.prefix}/lib/python{x}{y}.zip", "stdlib"), (self.stdlib, "stdlib"),
                          (f"{self.stdlib}/lib-dynload", "stdlib")]
        if "S" not in flags:
            self.site_dirs = self._site_dirs(env, user="s" not in flags and not isolated)
            for d in self.site_dirs:
                self.sys_path.append((d, "site"))
                self.sys_path += [(p, "site") for p in self._pth_paths(d)]
        triplet = f"{ARCH.get(start.architecture or 'amd64', start.architecture)}-linux-{self.libc_kind}"
        self.suffixes = (f".cpython-{x}{y}-{triplet}.so", ".abi3.so", ".so")
        self._builtins: set[str] | None = None

    @property
    def libc_kind(self) -> str:
        return "musl" if self.start.loader and "musl" in self.start.loader else "gnu"

    # ---- getpath ------------------------------------------------------------------------
    def _venv(self, executable: str) -> tuple[str | None, dict]:
        for d in (posixpath.dirname(executable), posixpath.dirname(posixpath.dirname(executable))):
            text = self.fs.read_text(f"{d}/pyvenv.cfg")
            if text is not None:
                cfg = {}
                for line in text.splitlines():
                    key, sep, value = line.partition("=")
                    if sep:
                        cfg[key.strip().lower()] = value.strip()
                return posixpath.dirname(f"{d}/pyvenv.cfg"), cfg
        return None, {}

    def _prefix(self, env: dict) -> tuple[tuple[int, int] | None, str]:
        wanted = None
        m = PYTHON_NAME.fullmatch(posixpath.basename(self.real))
        if m and m.group(2):
            wanted = tuple(int(p) for p in m.group(1).split(".")[:2])
        home = env.get("PYTHONHOME")
        if home:
            tops = [home.split(":")[0]]
        else:
            start_dir = self.cfg.get("home") if self.venv and self.cfg.get("home") else posixpath.dirname(self.real)
            start_dir = self.fs.realpath(start_dir) or start_dir
            tops, d = [], start_dir
            while True:
                tops.append(d)
                if d == "/":
                    break
                d = posixpath.dirname(d)
        for top in tops:
            lib = self.fs.stat(f"{top}/lib", follow=True)
            names = sorted(lib.children or {}) if lib is not None and lib.type == "5" else []
            for name in names:
                m = _LIB_DIR.fullmatch(name)
                if not m:
                    continue
                version = (int(m.group(1)), int(m.group(2)))
                if wanted and version != wanted:
                    continue
                if self.fs.is_file(f"{top}/lib/{name}/os.py") or self.fs.is_file(f"{top}/lib/{name}/os.pyc"):
                    return version, top.rstrip("/") or ""
        return wanted, ""

    # ---- site ---------------------------------------------------------------------------
    def _site_dirs(self, env: dict, user: bool) -> list[str]:
        x, y = self.version
        out: list[str] = []
        system = [self.prefix] if not self.venv or self.cfg.get("include-system-site-packages", "").lower() \
            == "true" else []
        if user and not env.get("PYTHONNOUSERSITE") and system:
            out.append(f"{self.home()}/.local/lib/python{x}.{y}/site-packages")
        if self.venv:
            out.append(f"{self.venv}/lib/python{x}.{y}/site-packages")
        for prefix in system:
            if self.debian:
                out += [f"{prefix}/local/lib/python{x}.{y}/dist-packages", f"{prefix}/lib/python3/dist-packages",
                        f"{prefix}/lib/python{x}.{y}/dist-packages"]
            else:
                out.append(f"{prefix}/lib/python{x}.{y}/site-packages")
        return [posixpath.normpath(d) for d in out if self.fs.is_dir(d)]

    def home(self) -> str:
        home = self.start.env.get("HOME")
        if home:
            return home
        for line in (self.fs.read_text("/etc/passwd") or "").splitlines():
            row = line.split(":")
            if len(row) > 5 and row[2] == str(self.start.uid):
                return row[5]
        return "/"

    def _pth_paths(self, site: str) -> list[str]:
        """The directories a site directory's .pth files add (`import` lines are code, not
        followed)."""
        node = self.fs.stat(site, follow=True)
        out = []
        for name in sorted(node.children or {}) if node is not None else []:
            if not name.endswith(".pth"):
                continue
            for line in (self.fs.read_text(f"{site}/{name}", 1 << 20) or "").splitlines()[:1000]:
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                d = posixpath.normpath(posixpath.join(site, line))
                if self.fs.is_dir(d):
                    out.append(d)
        return out

    # ---- the interpreter ----------------------------------------------------------------
    def builtins(self) -> set[str]:
        """Modules compiled into the interpreter (or its libpython): each has a PyInit_NAME."""
        if self._builtins is None:
            names: set[str] = {"sys", "builtins", "_imp", "_io", "marshal", "posix", "_thread", "_warnings",
                               "_weakref", "_frozen_importlib", "_frozen_importlib_external"}
            binaries = [self.real]
            facts = read_elf(self.fs, self.real)
            for lib in (facts or {}).get("needed", []):
                if lib.startswith("libpython"):
                    found = self.start.find_library(lib, self.real, facts, self.libc_kind == "musl")
                    if found:
                        binaries.append(found)
            for path in binaries:
                node = self.fs.stat(path, follow=True)
                if node is not None and node.inode.type == "0":
                    data = self.fs.head(node, BINARY_MAX)
                    names.update(m.decode() for m in re.findall(rb"PyInit_(\w+)\0", data))
            self._builtins = names
        return self._builtins

    # ---- the path finder ----------------------------------------------------------------
    def find(self, dotted: str, first: tuple[tuple[str, str], ...] = ()) -> tuple[Found | None, str]:
        """Where `import dotted` finds it: (Found, dotted) or (None, the name Python says
        is missing)."""
        key = (dotted, first)
        if key not in self._found:
            self._found[key] = self._find(dotted, first)
        return self._found[key]

    def _find(self, dotted: str, first: tuple) -> tuple[Found | None, str]:
        parts = dotted.split(".")
        if parts[0] in self.builtins() and len(parts) == 1:
            return Found(None, (), "builtin"), dotted
        entries = list(first) + self.sys_path
        found = None
        for i, part in enumerate(parts):
            if found is not None and not found.search:
                return None, ".".join(parts[:i + 1])  # a module is no package
            found = self._find_in(entries, part) if found is None else self._find_in(
                [(d, found.where) for d in found.search], part)
            if found is None:
                return None, ".".join(parts[:i + 1])
        return found, dotted

    def _find_in(self, entries, name: str) -> Found | None:
        namespace: list[str] = []
        where_ns = "app"
        for d, where in entries:
            names = self._names(d)
            if not names:
                continue
            base = f"{d}/{name}"
            if name in names and self.fs.is_dir(base):
                for init in ("__init__.py", "__init__.pyc") + tuple("__init__" + s for s in self.suffixes):
                    if self.fs.is_file(f"{base}/{init}"):
                        return Found(f"{base}/{init}", (base,), where)
                if not namespace:
                    where_ns = where
                namespace.append(base)
            for suffix in self.suffixes + (".py", ".pyc"):
                if name + suffix in names and self.fs.is_file(base + suffix):
                    return Found(base + suffix, (), where)
        return Found(None, tuple(namespace), where_ns) if namespace else None

    def _names(self, d: str) -> dict:
        """A directory's entries (empty when it is none), looked up once."""
        names = self._listings.get(d)
        if names is None:
            node = self.fs.stat(d, follow=True)
            names = self._listings[d] = (node.children or {}) if node is not None and node.type == "5" else {}
        return names



    def facts(self) -> dict:
        return {"executable": self.executable, "real": self.real,
                "version": ".".join(map(str, self.version)) if self.version else None,
                "prefix": self.prefix or None, "venv": self.venv, "sys_path": [d for d, _ in self.sys_path]}
