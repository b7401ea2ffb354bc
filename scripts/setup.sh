#!/usr/bin/env bash
# Installs what distill and its tests need on a Debian machine, as root: the Debian parts
# (runc, pasta for the private network of RUN steps, mmdebstrap, a registry, busybox, skopeo)
# and a virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(runc passt mmdebstrap docker-registry busybox-static skopeo python3-venv ca-certificates gcc libc6-dev python3-dev musl musl-tools shellcheck)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker-registry's package starts a service on :5000; distill never uses it.
systemctl disable --now docker-registry >/dev/null 2>&1 || true

# Debian's own python3 (python3-venv above brings it): built with PGO and LTO, it starts and
# runs distill ~15% faster than a python built without them (pyenv's default), which may
# come first on PATH.
PY=${PYTHON:-/usr/bin/python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# The venv's own setuptools is never used (pip builds distill in an isolated environment) but
# its .pth file imports _distutils_hack at every interpreter start: ~0.5 ms of every command.
.venv/bin/pip uninstall -q -y setuptools 2>/dev/null || true
# bytecode up front: an environment with PYTHONDONTWRITEBYTECODE would otherwise compile on every start
.venv/bin/python -m compileall -q src >/dev/null
