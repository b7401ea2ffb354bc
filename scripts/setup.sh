#!/usr/bin/env bash
# Installs what distill and its tests need on a Debian machine, as root: the Debian parts
# (runc, iproute2 and nftables for the private network of RUN steps, mmdebstrap, a registry, busybox, skopeo;
# uidmap and passt for a user other than root; docker.io, the engine distill's own image is
# tested under) and a virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(runc iproute2 nftables uidmap passt docker.io mmdebstrap qemu-user-static arch-test docker-registry busybox-static skopeo python3-venv ca-certificates gcc libc6-dev python3-dev musl musl-tools shellcheck chromium rpm strace time)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # no package's service starts on install (docker's, the registry's): the tests start
  # their own, and a machine without an init system would fail the install
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# docker-registry's package starts a service on :5000; distill never uses it. Nor docker's:
# the tests start an engine of their own (tests/bed/docker.py).
systemctl disable --now docker-registry >/dev/null 2>&1 || true
systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
# A user other than root reaches its private network through pasta, which opens
# /dev/net/tun: 0666 as Debian's udev rules make it, where a machine made it root's alone.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then chmod 666 /dev/net/tun; fi

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
# The SARIF 2.1.0 schema the tests validate against, as published inside Microsoft's SARIF
# multitool package on npm (only the schema is kept; its digest is pinned).
SARIF_SCHEMA=/var/cache/distill-tests/sarif-2.1.0.json
SARIF_SHA256=1c49a0f2b60444c71bb14878e21e0d882198eff4c539861b133093ad89ed798c
if ! echo "$SARIF_SHA256  $SARIF_SCHEMA" | sha256sum -c --status 2>/dev/null; then
  mkdir -p "$(dirname "$SARIF_SCHEMA")"
  tmp=$(mktemp -d)
  .venv/bin/python -c 'import sys, httpx; open(sys.argv[2], "wb").write(httpx.get(sys.argv[1], follow_redirects=True, timeout=300).raise_for_status().content)' \
    https://registry.npmjs.org/@microsoft/sarif-multitool-linux/-/sarif-multitool-linux-5.7.0.tgz "$tmp/multitool.tgz"
  tar xzf "$tmp/multitool.tgz" -C "$tmp" package/sarif-2.1.0.json
  echo "$SARIF_SHA256  $tmp/package/sarif-2.1.0.json" | sha256sum -c --status
  mv "$tmp/package/sarif-2.1.0.json" "$SARIF_SCHEMA"
  rm -rf "$tmp"
fi
# bytecode up front: an environment with PYTHONDONTWRITEBYTECODE would otherwise compile on every start
.venv/bin/python -m compileall -q src >/dev/null
