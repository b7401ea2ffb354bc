"""A layer a build writes gets its table of contents from the writer, with no scan: the
rows kept are the ones a scan of the blob reads back, for a RUN's layer (whiteouts,
hard links, symlinks, a fifo, a PAX name), a direct COPY (afresh and spliced from the
last layer after an edit) and a COPY --from."""

import pytest

from bed.images import copy_image
from buildtools import BUSYBOX, build, write_context
from distill.image.layers import toc
from distill.image.store.images import lookup

LONG = "d" * 120
DOCKERFILE = f"""FROM {BUSYBOX} AS base
RUN mkdir -p /w/{LONG} && echo a > /w/a && ln /w/a /w/hard && ln -s a /w/soft && mkfifo /w/fifo \\
    && echo long > /w/{LONG}/f && rm /bin/true
COPY . /app/
FROM {BUSYBOX}
COPY --from=base /w /w
COPY --from=base /app/one.txt /one.txt
"""


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def _rows(store, descriptor: dict, diff_id: str):
    kept = toc.read_kept(toc.toc_path(store, diff_id), toc.VERSION, diff_id, "entries")
    with store.open_blob(descriptor["digest"]) as f:
        return kept, toc.scan(f, descriptor, diff_id)[0]


def test_the_rows_a_build_keeps_are_what_a_scan_reads(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"one.txt": "1\n", **{f"many/f{i}.txt": f"{i}\n" for i in range(20)},
                                           f"many/{LONG}.txt": "long\n"})
    base_layers = set(lookup(store, BUSYBOX).diff_ids)
    made = {}
    for edit in ("", "1 edited\n"):  # the edit's COPY . /app/ is spliced from the last layer
        if edit:
            (ctx / "one.txt").write_text(edit)
        for target in ("base", None):
            _, _, image = build(store, ctx, DOCKERFILE, target=target)
            made.update((i, d) for d, i in zip(image.layers, image.diff_ids) if i not in base_layers)
    assert len(made) == 6  # RUN, COPY . /app/ twice, COPY --from /w, COPY --from /one.txt twice
    for diff_id, descriptor in made.items():
        kept, scanned = _rows(store, descriptor, diff_id)
        assert kept == scanned, diff_id
    run = next(k for i, d in made.items() for k in [_rows(store, d, i)[0]] if any(r[0] == "w/fifo" for r in k)
               and any(r[0] == "bin/.wh.true" for r in k))
    names = {r[toc.NAME]: r[toc.TYPE] for r in run}
    assert (names["w/hard"], names["w/soft"], names["w/fifo"], names[f"w/{LONG}/f"]) == ("1", "2", "6", "0")
