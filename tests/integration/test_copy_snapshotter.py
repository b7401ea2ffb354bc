"""The copy-based snapshotter (for machines without overlayfs) gives the same results."""

import os
import stat

import pytest

from bed.images import copy_image
from buildtools import BUSYBOX, build, listing, tree, write_context
from distill.build.snapshot import snapshotter
from distill.build.snapshot.copy import CopySnapshotter, diff_into


@pytest.fixture
def store(store, busybox_store, monkeypatch):
    monkeypatch.setenv("DISTILL_SNAPSHOTTER", "copy")
    copy_image(busybox_store, store, BUSYBOX)
    assert isinstance(snapshotter(store), CopySnapshotter)
    return store


def test_build_with_copies(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"f.txt": "x"})
    result, _, image = build(store, ctx, f"""FROM {BUSYBOX}
RUN mkdir -p /d/sub && echo 1 > /d/sub/f && echo y > /gone && mkdir /opq && echo old > /opq/old
USER app
WORKDIR /home/app/w
USER root
COPY --chown=app f.txt /home/app/
RUN rm /gone && rm -rf /d && echo file > /d && rm -rf /opq && mkdir /opq && echo new > /opq/new && chmod 600 /etc/passwd
""")
    root = tree(store, image, tmp_path / "out")
    assert not (root / "gone").exists() and (root / "d").read_text() == "file\n"
    assert os.listdir(root / "opq") == ["new"]
    assert os.stat(root / "home/app/w").st_uid == 1000 and os.stat(root / "home/app/f.txt").st_uid == 1000
    assert stat.S_IMODE(os.stat(root / "etc/passwd").st_mode) == 0o600
    again, _, _ = build(store, ctx, f"FROM {BUSYBOX}\nRUN echo cached-or-not\n")
    assert again.executed == 1


def test_diff_into_marks_deletions_and_replacements(tmp_path):
    base, merged, upper = tmp_path / "base", tmp_path / "merged", tmp_path / "upper"
    for d in (base, merged, upper):
        d.mkdir()
    for root in (base, merged):
        (root / "keep").write_text("same")
        os.utime(root / "keep", (1, 1))
        (root / "dir").mkdir()
        (root / "dir" / "x").write_text("x")
        os.utime(root / "dir" / "x", (1, 1))
    (base / "gone").write_text("bye")
    (base / "was-file").write_text("f")
    (merged / "was-file").mkdir()
    (merged / "was-file" / "inner").write_text("i")
    (merged / "dir" / "new").write_text("n")
    diff_into(str(base), str(merged), str(upper))
    assert sorted(listing(upper)) == ["dir", "dir/new", "gone", "was-file", "was-file/inner"]
    g = os.lstat(upper / "gone")
    assert stat.S_ISCHR(g.st_mode) and g.st_rdev == 0
    assert os.getxattr(upper / "was-file", "trusted.overlay.opaque") == b"y"
