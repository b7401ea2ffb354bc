"""The Dockerfile shapes people write, for bench/build.py: each a context maker and the two
edits a developer makes most, one file of the app and the dependency list.

- seed: the seed guide's Flask shape: the builder installs a virtual environment, then
  `COPY . .`; the final stage copies the environment and the builder's /app.
- seed-20k: the same with 18,000 more files in the environment (a node_modules-sized
  tree crossing stages): its edit should cost what seed's does.
- compiled: a Go-style build: the builder compiles, the final stage copies one binary.
- monorepo: one builder stage, three services, each copied out by a COPY --from of its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

BUILD = "localhost/debian/python-build:bookworm"
RUN = "localhost/debian/python:bookworm"
# the bases as build arguments, as examples/flask names them (bench/cold.py pulls them)
_BASES = f"ARG BUILD_BASE={BUILD}\nARG RUN_BASE={RUN}\n"

_SEED = _BASES + """FROM ${{BUILD_BASE}} AS builder
WORKDIR /app
COPY requirements.txt .
COPY wheels/ /wheels/
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels -r requirements.txt
{bulk}COPY . .

FROM ${{RUN_BASE}}
WORKDIR /app
COPY --from=builder /venv /venv
COPY --from=builder /app .
ENV PATH=/venv/bin:$PATH
CMD ["python3", "app.py"]
"""
# 18,000 small files in 90 directories of the environment, made by the builder
_BULK = ("RUN /venv/bin/python -c \"import os; [os.makedirs(f'/venv/lib/bulk/d{i}', exist_ok=True) or "
         "[open(f'/venv/lib/bulk/d{i}/f{j}.js', 'w').write(f'module.exports = {i * 200 + j};') for j in range(200)] "
         "for i in range(90)]\"\n")

_COMPILED = f"""FROM {BUILD} AS builder
WORKDIR /src
COPY deps.txt .
RUN mkdir -p /deps && cp deps.txt /deps/ && sort deps.txt > /deps/resolved
COPY main.c .
RUN gcc -O2 -o /out main.c

FROM {RUN}
COPY --from=builder /out /usr/local/bin/app
CMD ["/usr/local/bin/app"]
"""
_MAIN_C = '#include <stdio.h>\nint main(void) { puts("Hello, World!"); return 0; }\n'

_MONOREPO = f"""FROM {BUILD} AS builder
WORKDIR /src
COPY deps.txt .
RUN mkdir -p /deps && sort deps.txt > /deps/resolved
COPY . .
RUN for s in api web worker; do mkdir -p /out/$s && cp -r services/$s/. /out/$s/ && cp /deps/resolved /out/$s/; done

FROM {RUN}
COPY --from=builder /out/api /srv/api
COPY --from=builder /out/web /srv/web
COPY --from=builder /out/worker /srv/worker
CMD ["python3", "/srv/api/main.py"]
"""


def make(name: str, dest: Path, flask: Path) -> tuple[Path, Path]:
    """The context of shape `name` at `dest` (`flask`: the Flask example with its wheels),
    and the two files its edits change: (the app's, the dependency list)."""
    dest.mkdir(parents=True)
    if name in ("seed", "seed-20k"):
        for f in ("app.py", "requirements.txt"):
            shutil.copy(flask / f, dest / f)
        shutil.copytree(flask / "wheels", dest / "wheels")
        (dest / "Dockerfile").write_text(_SEED.format(bulk=_BULK if name == "seed-20k" else ""))
        return dest / "app.py", dest / "requirements.txt"
    (dest / "deps.txt").write_text("zlib 1.2\nlibfoo 3.1\n")
    if name == "compiled":
        (dest / "main.c").write_text(_MAIN_C)
        (dest / "Dockerfile").write_text(_COMPILED)
        return dest / "main.c", dest / "deps.txt"
    if name == "monorepo":
        for s in ("api", "web", "worker"):
            for i in range(200):
                f = dest / "services" / s / f"mod{i // 20}" / f"m{i}.py"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(f"VALUE = {i}\n")
            (dest / "services" / s / "main.py").write_text(f"print('{s}')\n")
        (dest / "Dockerfile").write_text(_MONOREPO)
        return dest / "services" / "api" / "main.py", dest / "deps.txt"
    raise ValueError(f"no shape {name}")


NAMES = ("seed", "seed-20k", "compiled", "monorepo")
