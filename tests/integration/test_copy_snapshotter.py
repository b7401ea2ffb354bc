"""The copy-based snapshotter (where overlayfs cannot be mounted) gives the same results:
a step's changes found against a survey, and a kept tree moved from one chain of layers
to another holding what a tree made anew holds."""

import hashlib
import os
import stat

import pytest

from bed.images import copy_image
from distill import api
from buildtools import BUSYBOX, build, listing, tree, write_context
from distill.build.snapshot import snapshotter, trees
from distill.build.snapshot.copy import CopySnapshotter
from distill.build.snapshot.tree_diff import diff, survey


@pytest.fixture
def store(store, busybox_store, monkeypatch):
    monkeypatch.setenv("DISTILL_SNAPSHOTTER", "copy")
    copy_image(busybox_store, store, BUSYBOX)
    assert isinstance(snapshotter(store), CopySnapshotter)
    return store


CHANGES = f"""FROM {BUSYBOX}
RUN mkdir -p /d/sub && echo 1 > /d/sub/f && echo y > /gone && mkdir /opq && echo old > /opq/old
USER app
WORKDIR /home/app/w
USER root
COPY --chown=app f.txt /home/app/
RUN rm /gone && rm -rf /d && echo file > /d && rm -rf /opq && mkdir /opq && echo new > /opq/new \\
 && chmod 600 /etc/passwd && echo twin > /t1 && ln /t1 /t2 && rm -rf /usr/sbin && ln -s /bin /usr/sbin
"""


def test_build_with_copies(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"f.txt": "x"})
    result, _, image = build(store, ctx, CHANGES)
    root = tree(store, image, tmp_path / "out")
    assert not (root / "gone").exists() and (root / "d").read_text() == "file\n"
    assert os.listdir(root / "opq") == ["new"]
    assert os.stat(root / "home/app/w").st_uid == 1000 and os.stat(root / "home/app/f.txt").st_uid == 1000
    assert stat.S_IMODE(os.stat(root / "etc/passwd").st_mode) == 0o600
    assert os.stat(root / "t1").st_ino == os.stat(root / "t2").st_ino
    assert os.readlink(root / "usr/sbin") == "/bin"
    again, _, _ = build(store, ctx, f"FROM {BUSYBOX}\nRUN echo cached-or-not\n")
    assert again.executed == 1
    assert os.listdir(trees.trees_dir(store))  # kept for the next build
    api.prune(store)
    assert not os.listdir(trees.trees_dir(store))


def _fingerprint(root: str) -> dict:
    """What a tree holds: each entry's kind, mode, owner, content or target (a file's
    mtime too; a directory's changes with what was made in it)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            facts = [st.st_mode, st.st_uid, st.st_gid]
            if stat.S_ISREG(st.st_mode):
                facts += [st.st_mtime_ns, hashlib.sha256(open(p, "rb").read()).hexdigest()]
            elif stat.S_ISLNK(st.st_mode):
                facts.append(os.readlink(p))
            out[os.path.relpath(p, root)] = facts
    return out


def _layers(image):
    return list(zip(image.layers, image.diff_ids))


def test_a_kept_tree_moved_to_another_chain_holds_what_a_new_one_does(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"f.txt": "x"})
    _, _, changed = build(store, ctx, CHANGES)
    _, _, other = build(store, ctx, f"FROM {BUSYBOX}\nRUN mkdir -p /d/other && echo o > /gone && rm /bin/ls\n")
    trees.drop_all(store)  # the builds' own trees
    kept = trees.new_tree(store)
    trees.roll(store, kept, _layers(changed))
    trees.give_back(store, kept)
    moved = trees.take(store, _layers(other))
    assert moved is not None and moved.home == kept.home  # the busybox layer in common
    trees.roll(store, moved, _layers(other))
    fresh = trees.new_tree(store)
    trees.roll(store, fresh, _layers(other))
    assert _fingerprint(moved.root) == _fingerprint(fresh.root)
    assert not os.path.exists(os.path.join(moved.root, "bin/ls")) and not os.path.exists(os.path.join(moved.root, "t1"))
    trees.roll(store, moved, _layers(changed))  # and back again
    trees.roll(store, fresh, _layers(changed))
    assert _fingerprint(moved.root) == _fingerprint(fresh.root)
    trees.drop(moved)
    trees.drop(fresh)


def test_a_tree_left_dirty_is_removed_by_the_next_taker(store, tmp_path):
    _, _, image = build(store, None, f"FROM {BUSYBOX}\nRUN echo a > /a\n")
    trees.drop_all(store)
    t = trees.new_tree(store)
    trees.roll(store, t, _layers(image))
    os.close(t.fd)  # a killed build: the lock goes, the dirty mark stays
    assert trees.take(store, _layers(image)) is None
    assert not os.path.exists(t.home)


def test_diff_marks_deletions_replacements_and_links(tmp_path):
    root, upper = tmp_path / "root", tmp_path / "upper"
    root.mkdir()
    upper.mkdir()
    (root / "keep").write_text("same")
    (root / "dir").mkdir()
    (root / "dir" / "x").write_text("x")
    (root / "gone").write_text("bye")
    (root / "gone-dir").mkdir()
    (root / "gone-dir" / "inner").write_text("i")
    (root / "was-file").write_text("f")
    (root / "renamed").write_text("one")
    os.utime(root / "renamed", (5, 5))
    before = survey(str(root))
    (root / "gone").unlink()
    (root / "gone-dir" / "inner").unlink()
    (root / "gone-dir").rmdir()
    (root / "was-file").unlink()
    (root / "was-file").mkdir()
    (root / "was-file" / "inner").write_text("i")
    (root / "dir" / "new").write_text("n")
    (root / "dir" / "twin").write_text("t")
    os.link(root / "dir" / "twin", root / "dir" / "twin2")
    (root / "other").write_text("two")  # same size and mtime, put in place by a rename
    os.utime(root / "other", (5, 5))
    os.rename(root / "other", root / "renamed")
    after = diff(str(root), before, str(upper))
    assert after == survey(str(root))
    assert listing(upper) == {"dir", "dir/new", "dir/twin", "dir/twin2", "gone", "gone-dir", "was-file",
                              "was-file/inner", "renamed"}
    for name in ("gone", "gone-dir"):
        g = os.lstat(upper / name)
        assert stat.S_ISCHR(g.st_mode) and g.st_rdev == 0
    assert os.getxattr(upper / "was-file", "trusted.overlay.opaque") == b"y"
    assert os.stat(upper / "dir" / "twin").st_ino == os.stat(upper / "dir" / "twin2").st_ino
    assert (upper / "renamed").read_text() == "two"
    assert os.stat(upper / "dir").st_mtime_ns == os.stat(root / "dir").st_mtime_ns
