"""Will the Node.js program start? `node FILE` (or a #! script run by node, or `npm start`
and `npm run NAME` through package.json's scripts): the entry file found as Node's
loader finds a main module (X, X.js, X.json, X.node; a directory's package.json "main",
then index.js), then its static imports — `require('x')` at the top level and `import …
from 'x'` — each bare name found in a node_modules directory on the way up to / (then
NODE_PATH), each relative one as a file, followed through the application's own files
(ANALYSIS-FACTS §4). Pure over an ImageFS."""

from __future__ import annotations

import json
import posixpath
import re

NODE_NAMES = {"node", "nodejs"}
MAX_FILES = 1000
SOURCE_MAX = 4 << 20
# options of node that take the next word as their value
_VALUE_OPTIONS = {"-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions",
                  "--title", "--env-file", "--inspect-port", "--input-type", "--stack-size"}
_CODE_OPTIONS = {"-e", "--eval", "-p", "--print", "-i", "--interactive", "-v", "--version", "-h", "--help"}
BUILTINS = frozenset(
    "assert async_hooks buffer child_process cluster console constants crypto dgram diagnostics_channel dns domain "
    "events fs http http2 https inspector module net os path perf_hooks process punycode querystring readline repl "
    "stream string_decoder sys timers tls trace_events tty url util v8 vm wasi worker_threads zlib test".split())
_REQUIRE = re.compile(r"""(?m)^(?:(?:const|let|var)\s+[\w${}\s,:]+=\s*)?require\(\s*['"]([^'"]+)['"]\s*\)""")
_IMPORT = re.compile(r"""(?m)^(?:import|export)\s+(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]""")


def node_program(start, argv: list[str], program: str) -> tuple[str, str] | None:
    """(the node executable, the entry file as given) of what `argv` starts, else None."""
    fs = start.fs
    if _is_node(fs, program):
        script = _script_of(argv[1:])
        return (program, script) if script else None
    if posixpath.basename(program) == "npm" and len(argv) > 1 and argv[1] in ("start", "run", "run-script"):
        return "npm", (argv[2] if argv[1] != "start" and len(argv) > 2 else "start")
    node = fs.stat(program, follow=True)
    head = fs.head(node, 256) if node is not None and node.inode.type == "0" else b""
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
        if words and posixpath.basename(words[0]) == "env":
            words = words[1:]
        if words and posixpath.basename(words[0]) in NODE_NAMES:
            return words[0], program
    return None


def _is_node(fs, path: str) -> bool:
    return posixpath.basename(path) in NODE_NAMES or posixpath.basename(fs.realpath(path) or "") in NODE_NAMES


def _script_of(words: list[str]) -> str | None:
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--":
            return words[i + 1] if i + 1 < len(words) else None
        if w in _CODE_OPTIONS:
            return None
        if w.startswith("-"):
            i += 2 if w in _VALUE_OPTIONS else 1
            continue
        return w
    return None


class NodeCheck:
    def __init__(self, start):
        self.start, self.fs = start, start.fs

    def run(self, node: str, script: str) -> None:
        if node == "npm":
            script = self.npm_script(script)
            if script is None:
                return
        path = self.start.at(script)
        entry = self.resolve(path)
        if entry is None:
            self.start.add("node-file-missing", f"node {script}: Error: Cannot find module {path!r} (no such file, "
                           "nor with .js/.json/.node, nor a package directory)", path, program=path)
            return
        self.follow(entry)

    def npm_script(self, name: str) -> str | None:
        """The file `npm start` / `npm run NAME` hands to node, from package.json."""
        pkg_path = self.start.at("package.json")
        text = self.fs.read_text(pkg_path)
        try:
            pkg = json.loads(text) if text is not None else None
        except (ValueError, RecursionError):
            pkg = None
        if not isinstance(pkg, dict):
            self.start.add("npm-script-missing", f"npm {name}: no package.json in {self.start.workdir} (npm ERR! "
                           "enoent Could not read package.json)", pkg_path)
            return None
        scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
        command = scripts.get(name)
        if command is None and name == "start" and self.fs.stat(self.start.at("server.js"),
                                                                 follow=True):
            command = "node server.js"  # npm's default start
        if not isinstance(command, str):
            self.start.add("npm-script-missing", f"npm: Missing script: {name!r} in {pkg_path}", pkg_path)
            return None
        words = command.split()
        if not words or words[0] not in NODE_NAMES or any(ch in command for ch in "|&;<>$`"):
            return None  # another program: npm runs it through sh
        return _script_of(words[1:])

    # ---- Node's loader ------------------------------------------------------------------
    def resolve(self, path: str) -> str | None:
        """LOAD_AS_FILE then LOAD_AS_DIRECTORY (Node's modules documentation)."""
        for candidate in (path, path + ".js", path + ".json", path + ".node"):
            if self.fs.is_file(candidate):
                return candidate
        if self.fs.is_dir(path):
            text = self.fs.read_text(posixpath.join(path, "package.json"))
            try:
                main = json.loads(text).get("main") if text else None
            except (ValueError, AttributeError):
                main = None
            if isinstance(main, str) and main:
                target = posixpath.normpath(posixpath.join(path, main))
                for candidate in (target, target + ".js", target + ".json", target + ".node",
                                  target + "/index.js"):
                    if self.fs.is_file(candidate):
                        return candidate
            for index in ("index.js", "index.json", "index.node"):
                if self.fs.is_file(posixpath.join(path, index)):
                    return posixpath.join(path, index)
        return None

    def package_dir(self, name: str, importer: str) -> str | None:
        """Where a bare name's package is: node_modules on the way up, then NODE_PATH."""
        parts = name.split("/")
        package = "/".join(parts[:2] if name.startswith("@") else parts[:1])
        d = posixpath.dirname(importer)
        dirs = []
        while True:
            if posixpath.basename(d) != "node_modules":
                dirs.append(posixpath.join(d, "node_modules"))
            if d == "/":
                break
            d = posixpath.dirname(d)
        dirs += [p for p in self.start.env.get("NODE_PATH", "").split(":") if p]
        for base in dirs:
            candidate = posixpath.join(base, package)
            if self.fs.is_dir(candidate) or self.resolve(candidate) is not None:
                return candidate
        return None

    def follow(self, entry: str) -> None:
        todo, done = [entry], set()
        while todo and len(done) < MAX_FILES:
            path = todo.pop()
            if path in done or not path.endswith((".js", ".mjs", ".cjs")) and path != entry:
                continue
            done.add(path)
            node = self.fs.stat(path, follow=True)
            if node is None or node.inode.size > SOURCE_MAX:
                continue
            text = self.fs.head(node, SOURCE_MAX).decode("utf-8", "replace")
            for spec in dict.fromkeys(_REQUIRE.findall(text) + _IMPORT.findall(text)):
                found = self.specifier(spec, path)
                if found is not None and spec.startswith("."):
                    todo.append(found)

    def specifier(self, spec: str, importer: str) -> str | None:
        if spec.startswith("node:") or spec.split("/")[0] in BUILTINS:
            return "builtin"
        if spec.startswith((".", "/")):
            found = self.resolve(posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec)))
            if found is None:
                self.start.add("node-module-missing", f"{importer} requires {spec!r}: Error: Cannot find module "
                               f"{spec!r}", spec, module=spec, importer=importer)
            return found
        found = self.package_dir(spec, importer)
        if found is None:
            self.start.add("node-module-missing", f"{importer} requires {spec!r}: Error: Cannot find module {spec!r} "
                           "(in no node_modules directory from there up to /, nor on NODE_PATH)", spec,
                           module=spec, importer=importer)
        return found




def check_node(start, argv: list[str], program: str) -> bool:
    found = node_program(start, argv, program)
    if found is None:
        return False
    NodeCheck(start).run(*found)
    return True
