"""Checks runtime/seccomp.py against docker's own default profile: the filter docker would
install (moby's setupSeccomp: includes and excludes by capability, architecture and kernel)
and distill's, for the same container, rule by rule.

    .venv/bin/python bench/seccomp_profile.py PATH/TO/moby/profiles/seccomp/default.json

Prints each difference and exits 1 if there is one. Cases: docker's default capabilities
and those plus CAP_SYS_ADMIN, on amd64, arm64 and s390x."""

import json
import sys

from distill.build.runtime import seccomp
from distill.build.runtime.spec import DEFAULT_CAPS


def docker_filter(profile: dict, caps: set[str], arch: str, kernel: tuple[int, int]) -> set:
    out = set()
    for call in profile["syscalls"]:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if arch in (exc.get("arches") or []) or any(c in caps for c in exc.get("caps") or []):
            continue
        if exc.get("minKernel") and kernel >= tuple(int(x) for x in exc["minKernel"].split(".")):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if not all(c in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and kernel < tuple(int(x) for x in inc["minKernel"].split(".")):
            continue
        out |= _rows(call)
    return out


def _rows(rule: dict) -> set:
    args = tuple(sorted((a["index"], a["op"], a["value"], a.get("valueTwo", 0)) for a in rule.get("args") or []))
    return {(name, rule["action"], rule.get("errnoRet", 0), args) for name in rule["names"]}


def main(path: str) -> int:
    profile = json.load(open(path))
    differences = 0
    for arch, machine in (("amd64", "x86_64"), ("arm64", "aarch64"), ("s390x", "s390x")):
        for caps in (DEFAULT_CAPS, DEFAULT_CAPS + ["CAP_SYS_ADMIN"]):
            docker = docker_filter(profile, set(caps), arch, (6, 1))
            ours = set().union(*(_rows(r) for r in seccomp.profile(caps, machine, "6.1.0")["syscalls"]))
            label = f"{arch} {'+SYS_ADMIN' if 'CAP_SYS_ADMIN' in caps else 'default caps'}"
            for row in sorted(docker - ours, key=str):
                print(f"{label}: docker only: {row}")
            for row in sorted(ours - docker, key=str):
                print(f"{label}: distill only: {row}")
            differences += len(docker ^ ours)
            print(f"{label}: docker {len(docker)} rules, distill {len(ours)}, differences {len(docker ^ ours)}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
