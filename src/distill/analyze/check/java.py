"""Will the Java program start? `java -jar FILE`: the jar is there (relative to WORKDIR),
is a zip, its manifest names a Main-Class, and that class is in the jar or a jar its
Class-Path names (relative to the jar's directory). `java [-cp PATH] CLASS`: the class
is in a directory or jar of the class path (-cp, else CLASSPATH, else the working
directory). The java program itself was checked as any program (PATH, ELF, libraries).
Pure over an ImageFS."""

from __future__ import annotations

import io
import posixpath
import zipfile

from distill.analyze.packages.java import jar_manifest, member as read_member

JAR_MAX = 512 << 20
_VALUE_OPTIONS = {"-cp", "-classpath", "--class-path", "-p", "--module-path", "--add-modules", "-javaagent",
                  "--add-opens", "--add-exports", "-splash"}


def java_program(start, argv: list[str], program: str) -> tuple[str, str, list[str] | None] | None:
    """("jar", FILE, None) or ("class", NAME, class path), else None."""
    real = start.fs.realpath(program) or program
    if posixpath.basename(program) != "java" and posixpath.basename(real) != "java":
        return None
    words, i, classpath = argv[1:], 0, None
    while i < len(words):
        w = words[i]
        if w == "-jar":
            return ("jar", words[i + 1], None) if i + 1 < len(words) else None
        if w in ("-m", "--module", "-version", "--version", "-h", "-help", "--help"):
            return None
        if w in _VALUE_OPTIONS:
            if w in ("-cp", "-classpath", "--class-path") and i + 1 < len(words):
                classpath = words[i + 1].split(":")
            i += 2
            continue
        if w.startswith("-"):
            i += 1
            continue
        if w.endswith(".java"):
            return None  # the source launcher compiles it
        if classpath is None:
            env = start.env.get("CLASSPATH")
            classpath = env.split(":") if env else ["."]
        return "class", w, classpath
    return None


class JavaCheck:
    def __init__(self, start):
        self.start, self.fs = start, start.fs
        self._jars: dict[str, bytes | None | bool] = {}  # path → content, None (missing), False (too big)

    def jar(self, name: str) -> None:
        path = self.start.at(name)
        names = self.entries(path)
        if names is None:
            self.start.add("java-jar-missing", f"java -jar {name}: Error: Unable to access jarfile {name} ({path} "
                           "is not in the image)", path, program=path)
            return
        if names is False:
            self.start.add("java-jar-missing", f"java -jar {name}: Error: Invalid or corrupt jarfile {path}", path)
            return
        manifest = jar_manifest(self._member(path, "META-INF/MANIFEST.MF").decode("utf-8", "replace"))
        main = manifest.get("Main-Class")
        if not main:
            self.start.add("java-no-main-class", f"java -jar {name}: no main manifest attribute, in {path}", path)
            return
        jars = [path]
        for entry in manifest.get("Class-Path", "").split():
            other = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry))
            jars.append(other)
        if not any(self.has_class(j, main) for j in jars):
            self.start.add("java-class-missing", f"java -jar {name}: Error: Could not find or load main class {main} "
                           f"(not in {path}{' nor its Class-Path' if len(jars) > 1 else ''})", path, program=main)

    def main_class(self, name: str, classpath: list[str]) -> None:
        entries = []
        for entry in classpath:
            entry = self.start.at(entry or ".")
            if entry.endswith("/*"):
                node = self.fs.stat(entry[:-2], follow=True)
                entries += [f"{entry[:-2]}/{n}" for n in sorted(node.children or {}) if n.endswith(".jar")] \
                    if node is not None and node.type == "5" else []
            else:
                entries.append(entry)
        if not any(self.has_class(e, name) for e in entries):
            self.start.add("java-class-missing", f"java {name}: Error: Could not find or load main class {name} "
                           f"(class path: {':'.join(classpath)})", name, program=name)

    # ---- reading jars -------------------------------------------------------------------
    def has_class(self, entry: str, name: str) -> bool:
        member = name.replace(".", "/") + ".class"
        node = self.fs.stat(entry, follow=True)
        if node is None:
            return False
        if node.type == "5":
            return self.fs.stat(posixpath.join(entry, member), follow=True) is not None
        names = self.entries(entry)
        return bool(names) and member in names

    def entries(self, path: str):
        """A jar's member names; None when it is missing, False when it is no zip."""
        zf = self._zip(path)
        if zf is None or zf is False:
            return zf
        with zf:
            return set(zf.namelist())

    def _member(self, jar: str, member: str) -> bytes:
        zf = self._zip(jar)
        if not zf:
            return b""
        with zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                return b""
            if info.file_size > 1 << 20:
                return b""
            return read_member(zf, info)

    def _zip(self, path: str):
        if path not in self._jars:  # a jar is read from its layer once, however often it is asked
            node = self.fs.stat(path, follow=True)
            if node is None or node.inode.type != "0":
                self._jars[path] = None
            elif node.inode.size > JAR_MAX:
                self._jars[path] = False
            else:
                with self.fs.open_file(node) as f:
                    self._jars[path] = f.read(node.inode.size)
        data = self._jars[path]
        if not data:
            return data if data is None else False
        try:
            return zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError):
            return False


def check_java(start, argv: list[str], program: str) -> bool:
    found = java_program(start, argv, program)
    if found is None:
        return False
    kind, name, classpath = found
    if kind == "jar":
        JavaCheck(start).jar(name)
    else:
        JavaCheck(start).main_class(name, classpath)
    return True
