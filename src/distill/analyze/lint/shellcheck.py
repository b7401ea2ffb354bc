"""ShellCheck on RUN scripts, through the `shellcheck` program, as hadolint does it: each
script headed by its shell's #! (the stage's SHELL, else /bin/sh) and an `export NAME=1`
for each variable the stage's ARG and ENV define (and the proxy variables docker passes),
SC1090 and SC2187 left out; every RUN of the file checked in one run of the program.
Findings carry the SC code and the RUN's line."""

from __future__ import annotations

import os

from distill.fs.files import unlink, which

PROXIES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
           "no_proxy")
SEVERITY = {"error": "error", "warning": "warning", "info": "info", "style": "style"}
TIMEOUT = 60
POSIX_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"}  # what ShellCheck reads


def available() -> bool:
    return which("shellcheck") is not None


def scripts(stages) -> list[tuple[object, str]]:
    """(node, script text with its #! and exports) for each shell-form RUN."""
    out = []
    for s in stages:
        shell, names = "/bin/sh", []
        for n in s.nodes:
            if n.value == "shell" and n.args:
                shell = n.args[0]
            elif n.value == "arg":
                names += [a.split("=", 1)[0] for a in n.args]
            elif n.value == "env":
                names += n.args[0::3]
            elif n.value == "run" and not n.json and not n.heredocs and n.args and \
                    shell.rsplit("/", 1)[-1] in POSIX_SHELLS:
                exports = "".join(f"export {v}=1\n" for v in sorted(set(PROXIES) | set(names)) if v.isidentifier())
                out.append((n, f"#!{shell}\n{exports}{' '.join(n.args)}\n"))
    return out


def check(stages, path: str) -> list[dict]:
    """ShellCheck's findings for every RUN of `stages` ([] when shellcheck is absent)."""
    pending = start(stages)
    return pending.findings(path) if pending is not None else []


def start(stages) -> "Pending | None":
    """ShellCheck started on every RUN of `stages` (None when there is nothing to check
    or no shellcheck): the caller does its own work while it runs, then asks findings()."""
    todo = scripts(stages)
    if not todo or not available():
        return None
    return Pending(todo)


OPTIONS = ["-f", "json1", "-S", "style", "-e", "SC1090,SC2187"]


def _cache_dir() -> str | None:
    """Where a script's findings are kept, by the script's and the program's identity:
    a lint of an unchanged Dockerfile (a hook, an editor, CI) runs ShellCheck on nothing."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "distill", "shellcheck") if os.path.isabs(base) else None


def _program_id() -> str:
    path = which("shellcheck") or ""
    try:
        st = os.stat(path)
        return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return path


class Pending:
    def __init__(self, todo):
        from distill.digest import of_bytes

        self.cache = _cache_dir()
        program = _program_id()
        self.cached, self.keys, self.files = [], {}, {}
        self.work = None  # made for the first script ShellCheck must read
        for i, (node, text) in enumerate(todo):
            key = of_bytes("\0".join([program, *OPTIONS, text]).encode("utf-8", "surrogateescape")).split(":")[1]
            hit = self._cached(key)
            if hit is not None:
                self.cached.append((node, hit))
                continue
            if self.work is None:
                tmp = os.environ.get("TMPDIR") or "/tmp"
                self.work = os.path.join(tmp, f"distill-shellcheck-{os.urandom(6).hex()}")
                os.mkdir(self.work, 0o700)
            name = os.path.join(self.work, f"run{i}.sh")
            with open(name, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
            self.files[name] = node
            self.keys[name] = key
        # ShellCheck's analysis is the cost (tens of ms a script): the scripts are split
        # over one shellcheck per core, run at once
        names = list(self.files)
        count = max(1, min(os.cpu_count() or 1, len(names))) if names else 0
        if count:
            import subprocess  # not when every script's findings are kept (~2 ms of a lint)
        self.procs = [subprocess.Popen(["shellcheck", *OPTIONS, *names[i::count]], stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True) for i in range(count)]

    def _cached(self, key: str) -> list | None:
        if self.cache is None:
            return None
        import json

        try:
            with open(os.path.join(self.cache, f"{key}.json"), encoding="utf-8") as f:
                found = json.load(f)
        except (OSError, ValueError):
            return None
        return found if isinstance(found, list) and all(isinstance(c, dict) for c in found) else None

    def _keep(self, key: str, comments: list) -> None:
        if self.cache is None:
            return
        import json

        from distill.fs.atomic import write_file

        try:
            os.makedirs(self.cache, exist_ok=True)
            write_file(os.path.join(self.cache, f"{key}.json"), json.dumps(comments).encode(), durable=False)
        except OSError:
            pass  # a cache that cannot be written is only slower

    def findings(self, path: str) -> list[dict]:
        by_file: dict[str, list] = {name: [] for name in self.files}
        complete = True
        try:
            for proc in self.procs:
                import json
                import subprocess

                try:
                    out, _ = proc.communicate(timeout=TIMEOUT)
                    for c in json.loads(out or "{}").get("comments", []):
                        if c.get("file") in by_file:
                            by_file[c["file"]].append({k: c.get(k) for k in ("code", "level", "message")})
                except (subprocess.TimeoutExpired, ValueError):
                    proc.kill()
                    proc.wait()
                    complete = False
        finally:
            for name in self.files:
                unlink(name)
            if self.work is not None:
                try:
                    os.rmdir(self.work)
                except OSError:
                    pass
        if complete:
            for name, comments in by_file.items():
                self._keep(self.keys[name], comments)
        out, seen = [], set()
        for node, comments in self.cached + [(self.files[n], c) for n, c in by_file.items()]:
            for c in comments:
                code = f"SC{c.get('code')}"
                if (code, node.start_line) in seen:
                    continue
                seen.add((code, node.start_line))
                out.append({"rule": code, "aliases": [], "severity": SEVERITY.get(c.get("level"), "warning"),
                            "line": node.start_line, "column": 1, "message": c.get("message", ""), "file": path})
        return out
