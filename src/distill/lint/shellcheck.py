"""ShellCheck on RUN scripts, through the `shellcheck` program, as hadolint does it: each
script headed by its shell's #! (the stage's SHELL, else /bin/sh) and an `export NAME=1`
for each variable the stage's ARG and ENV define (and the proxy variables docker passes),
SC1090 and SC2187 left out; every RUN of the file checked in one run of the program.
Findings carry the SC code and the RUN's line."""

from __future__ import annotations

import os
import shutil

PROXIES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
           "no_proxy")
SEVERITY = {"error": "error", "warning": "warning", "info": "info", "style": "style"}
TIMEOUT = 60
POSIX_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"}  # what ShellCheck reads


def available() -> bool:
    return shutil.which("shellcheck") is not None


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
    todo = scripts(stages)
    if not todo or not available():
        return []
    import json  # only when ShellCheck runs
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="distill-shellcheck-") as work:
        files = {}
        for i, (node, text) in enumerate(todo):
            name = os.path.join(work, f"run{i}.sh")
            with open(name, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
            files[name] = node
        # ShellCheck's analysis is the cost (tens of ms a script): the scripts are split
        # over one shellcheck per core, run at once
        names = list(files)
        parts = [names[i::max(1, min(os.cpu_count() or 1, len(names)))] for i in
                 range(max(1, min(os.cpu_count() or 1, len(names))))]
        procs = [subprocess.Popen(["shellcheck", "-f", "json1", "-S", "style", "-e", "SC1090,SC2187", *part],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for part in parts]
        comments = []
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=TIMEOUT)
                comments += json.loads(out or "{}").get("comments", [])
            except (subprocess.TimeoutExpired, ValueError):
                proc.kill()
                proc.wait()
    out, seen = [], set()
    for c in comments:
        node = files.get(c.get("file"))
        code = f"SC{c.get('code')}"
        if node is None or (code, node.start_line) in seen:
            continue
        seen.add((code, node.start_line))
        out.append({"rule": code, "aliases": [], "severity": SEVERITY.get(c.get("level"), "warning"),
                    "line": node.start_line, "column": 1, "message": c.get("message", ""), "file": path})
    return out
