#!/usr/bin/env bash
# Builds distill's own image with distill: the Debian bases (once), a wheelhouse of distill
# and its dependencies in wheels/, then the Dockerfile at the repository's root.
#   bash scripts/image.sh [TAG]      (default distill:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-distill:latest}
distill() { .venv/bin/distill "$@"; }

distill inspect localhost/debian/python-build:bookworm >/dev/null 2>&1 ||
  distill bootstrap localhost/debian/python-build:bookworm --include python3,python3-venv,python3-pip,python3-dev,build-essential,ca-certificates
distill inspect localhost/debian/distill-run:bookworm >/dev/null 2>&1 ||
  distill bootstrap localhost/debian/distill-run:bookworm --include "$(cat scripts/image-packages.txt | tr '\n' ',' | sed 's/,$//')"

rm -rf wheels build  # build/: setuptools keeps copies of the sources there between wheels
.venv/bin/pip wheel -q --disable-pip-version-check --no-deps -w wheels .
# what the image installs: distill at this version (the wheel just made: never an index's
# package of that name), and its dependencies for Python 3.11 on x86-64
.venv/bin/python - <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
open("wheels/dependencies.txt", "w").write("\n".join(project["dependencies"]) + "\n")
open("wheels/requirements.txt", "w").write(f"distill=={project['version']}\n-r dependencies.txt\n")
PY
.venv/bin/pip download -q --disable-pip-version-check --only-binary=:all: --platform manylinux2014_x86_64 \
  --python-version 3.11 --implementation cp -d wheels -r wheels/dependencies.txt
distill build --progress plain -t "$tag" .
