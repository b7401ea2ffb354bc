#!/usr/bin/env bash
# The demo: make a Debian Python base image from the Debian archive (no Docker Hub needed),
# push it to a registry on loopback, pull it back into a fresh store, list and explain it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
distill() { .venv/bin/distill "$@"; }

work=$(mktemp -d /tmp/distill-demo.XXXXXX)
export DISTILL_ROOT="$work/store"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
.venv/bin/python - "$port" <<'PY'
import sys, time, httpx
for _ in range(200):
    try:
        httpx.get(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1); break
    except httpx.HTTPError:
        time.sleep(0.1)
PY

echo "== bootstrap a Python base from the Debian archive"
time distill bootstrap python:bookworm --include python3,python3-venv,python3-pip,ca-certificates
echo "== push it to the registry on 127.0.0.1:$port"
distill push python:bookworm "127.0.0.1:$port/demo/python:bookworm"
echo "== pull it back into an empty store"
export DISTILL_ROOT="$work/store2"
distill pull "127.0.0.1:$port/demo/python:bookworm"
distill images
distill history "127.0.0.1:$port/demo/python:bookworm"
