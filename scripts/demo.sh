#!/usr/bin/env bash
# The seed demo: build the Flask example multi-stage and single-stage, compare sizes, run the
# multi-stage image and fetch "Hello, World!" from it on port 5000. Works with no Docker Hub:
# base images come from the Debian archive (distill bootstrap), Python packages from a
# wheelhouse downloaded on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
distill() { .venv/bin/distill "$@"; }
export DISTILL_ROOT=${DISTILL_ROOT:-/var/lib/distill}
ex=examples/flask

echo "== base images from the Debian archive (made once, then reused)"
distill inspect localhost/debian/python:bookworm >/dev/null 2>&1 ||
  distill bootstrap localhost/debian/python:bookworm --include python3
distill inspect localhost/debian/python-build:bookworm >/dev/null 2>&1 ||
  distill bootstrap localhost/debian/python-build:bookworm --include python3,python3-venv,python3-pip,python3-dev,build-essential,ca-certificates

echo "== wheelhouse for $ex/requirements.txt (host pip; the build stays offline)"
.venv/bin/pip download -q --disable-pip-version-check --only-binary=:all: --platform manylinux2014_x86_64 \
  --python-version 3.11 --implementation cp -d "$ex/wheels" -r "$ex/requirements.txt"

echo "== build: multi-stage"
distill build --progress plain -t flask-demo:multi "$ex"
echo "== build: single-stage"
distill build --progress plain -t flask-demo:single -f "$ex/Dockerfile.single" "$ex"

echo "== the two side by side, and what the multi-stage build kept out"
distill compare flask-demo:single flask-demo:multi
distill compare --stages flask-demo:multi
distill size --top 5 flask-demo:multi
distill report flask-demo:multi -o flask-report.html   # open it in a browser: no network needed

echo "== will they start? (distill check reads the images, runs nothing)"
distill check flask-demo:multi
dj=examples/django
.venv/bin/pip download -q --disable-pip-version-check --only-binary=:all: --platform manylinux2014_x86_64 \
  --python-version 3.11 --implementation cp -d "$dj/wheels" -r "$dj/requirements.txt"
distill build -q -t django-demo:multi "$dj" >/dev/null
# the seed's Django example builds, and cannot start: check says why (exit 1 is expected here)
if distill check django-demo:multi; then
  echo "distill check passed the Django example, which cannot start" >&2
  exit 1
fi

echo "== run the multi-stage image and ask it"
# its own network, port 5000 published on this machine's port 5000: say so if something else has it
if ! .venv/bin/python -c 'import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 5000))' 2>/dev/null; then
  echo "port 5000 is busy (the demo publishes on it): $(ss -Hltnp 'sport = :5000' 2>/dev/null)" >&2
  exit 1
fi
id=$(distill run -d -p 5000:5000 flask-demo:multi)
trap 'distill stop -t 2 "$id" >/dev/null 2>&1; distill rm "$id" >/dev/null 2>&1 || true' EXIT
.venv/bin/python - <<'PY'
import sys, time, httpx
for _ in range(100):
    try:
        r = httpx.get("http://127.0.0.1:5000/", timeout=1)
        print(r.text)
        sys.exit(0 if r.text == "Hello, World!" else 1)
    except httpx.HTTPError:
        time.sleep(0.1)
print("the app did not answer on port 5000", file=sys.stderr)
sys.exit(1)
PY
