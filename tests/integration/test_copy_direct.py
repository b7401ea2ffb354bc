"""COPY written without a mount (solver/direct.py): the same layers and trees as through
the overlay, unchanged files hard-linked from the step's previous snapshot and their tar
bytes taken from its layer, and the overlay still used where the copy meets a symlink or
replaces something."""

import io
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from bed.images import copy_image
from buildtools import BUSYBOX, build, tree, write_context
from distill.image.layers.tarstream import TarReader
from distill.image.layers.unpack import snapshot_id, snapshots_dir

FROM = f"FROM {BUSYBOX}"


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def layer_entries(store, image, index=-1) -> dict:
    with store.open_blob(image.layers[index]["digest"]) as f:
        return {e.name.rstrip("/"): (e.type, e.mode, e.uid, e.gid, e.read() if e.type == "0" else b"")
                for e in TarReader(io.BytesIO(f.read()))}


def snapshot(store, image, index=-1):
    return Path(snapshots_dir(store), snapshot_id(image.diff_ids[index]))


def went_direct(store, image, index=-1) -> bool:
    """The overlay path keeps its upper dir as the snapshot; the direct path leaves a file
    index beside the snapshot, or for a few small files no snapshot at all."""
    snap = snapshot(store, image, index)
    return snap.with_suffix(".files").exists() or not snap.exists()


def test_direct_copy_layer_matches_overlay_copy(store, tmp_path, monkeypatch):
    """The same COPY into an existing directory, direct and through the overlay (an ADD
    of plain files takes that path): the same entries, including the image's own parent
    directories with their metadata."""
    ctx = write_context(tmp_path / "ctx", {"tool": "#!/bin/sh\necho tool\n", "conf/a.ini": "a=1\n"})
    os.chmod(ctx / "tool", 0o755)
    _, _, direct = build(store, ctx, f"{FROM}\nCOPY tool conf /usr/local/bin/\n")
    _, _, overlay = build(store, ctx, f"{FROM}\nADD tool conf /usr/local/bin/\n")
    assert went_direct(store, direct) and not went_direct(store, overlay)
    a, b = layer_entries(store, direct), layer_entries(store, overlay)
    assert set(a) == set(b) == {"usr", "usr/local", "usr/local/bin", "usr/local/bin/tool", "usr/local/bin/a.ini"}
    for name in a:
        assert a[name][:4] == b[name][:4], name
    assert a["usr/local/bin/tool"][4] == b"#!/bin/sh\necho tool\n"
    root = tree(store, direct, tmp_path / "out")
    assert (root / "usr/local/bin/a.ini").read_text() == "a=1\n"
    assert stat.S_IMODE(os.stat(root / "usr/local/bin/tool").st_mode) == 0o755


def test_a_small_copy_writes_the_same_layer_without_a_snapshot(store, tmp_path, monkeypatch):
    """A few small files: the layer alone, byte-equal to what the full direct path writes;
    a following RUN unpacks it on demand."""
    from distill.build.solver import direct

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")  # /app is dated by its build: two builds, one date
    ctx = write_context(tmp_path / "ctx", {"app.py": "print('hi')\n"})
    _, _, small = build(store, ctx, f"{FROM}\nCOPY app.py /app/\n")
    assert not snapshot(store, small).exists()
    assert layer_entries(store, small) == {"app": ("5", 0o755, 0, 0, b""),
                                          "app/app.py": ("0", 0o644, 0, 0, b"print('hi')\n")}
    monkeypatch.setattr(direct, "_SMALL_ENTRIES", 0)
    _, _, full = build(store, ctx, f"{FROM}\nCOPY app.py /app/\n", no_cache=True)
    assert snapshot(store, full).with_suffix(".files").exists()
    assert full.diff_ids == small.diff_ids
    monkeypatch.undo()
    shutil.rmtree(snapshot(store, small))
    os.unlink(snapshot(store, small).with_suffix(".complete"))
    _, _, ran = build(store, ctx, f"{FROM}\nCOPY app.py /app/\nRUN cat /app/app.py > /seen\n")
    assert (tree(store, ran, tmp_path / "out") / "seen").read_text() == "print('hi')\n"


def test_edit_links_unchanged_files_from_previous_snapshot(store, tmp_path):
    files = {f"src/f{i}.txt": f"file {i}\n" for i in range(20)}
    ctx = write_context(tmp_path / "ctx", files)
    dockerfile = f"{FROM}\nCOPY src /app/\nRUN cat /app/f3.txt > /seen\n"
    _, _, first = build(store, ctx, dockerfile)
    (ctx / "src/f3.txt").write_text("changed\n")
    _, _, second = build(store, ctx, dockerfile)
    assert went_direct(store, first, -2) and went_direct(store, second, -2)
    old, new = snapshot(store, first, -2), snapshot(store, second, -2)
    assert old != new
    for i in range(20):
        a, b = os.lstat(old / f"app/f{i}.txt"), os.lstat(new / f"app/f{i}.txt")
        assert (a.st_ino == b.st_ino) == (i != 3), i  # only the edited file is written anew
    assert (new / "app/f3.txt").read_text() == "changed\n"
    assert (old / "app/f3.txt").read_text() == "file 3\n"
    root = tree(store, second, tmp_path / "out")
    assert (root / "seen").read_text() == "changed\n"
    # the snapshot holds what the layer holds: same names, modes, owners and bytes
    entries = layer_entries(store, second, -2)
    for name, (typ, mode, uid, gid, data) in entries.items():
        st = os.lstat(new / name)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid), name
        if typ == "0":
            assert (new / name).read_bytes() == data


def test_one_stack_never_sees_one_inode_twice(store, tmp_path):
    """The same COPY twice in a stage: the second may not link the first's files."""
    ctx = write_context(tmp_path / "ctx", {f"d/{i}.txt": "same\n" for i in range(10)})  # past the small-copy cut
    _, _, image = build(store, ctx, f"{FROM}\nCOPY d /x/\nCOPY d /x/\n")
    first, second = snapshot(store, image, -2), snapshot(store, image, -1)
    if first != second:  # equal layers share one snapshot anyway
        assert os.lstat(first / "x/3.txt").st_ino != os.lstat(second / "x/3.txt").st_ino


def test_symlinked_destination_goes_through_the_overlay(store, tmp_path):
    """/data is a symlink in the image: the copy lands in its target, as docker does."""
    ctx = write_context(tmp_path / "ctx", {"v.txt": "v\n"})
    _, _, image = build(store, ctx, f"{FROM}\nRUN mkdir /real && ln -s /real /data\nCOPY v.txt /data/\n")
    assert not went_direct(store, image)
    root = tree(store, image, tmp_path / "out")
    assert (root / "real/v.txt").read_text() == "v\n"
    assert os.path.islink(root / "data")


def test_replacing_a_file_with_a_file_goes_direct_and_writes_the_overlays_layer(store, tmp_path):
    """`COPY requirements.txt .` then `COPY . .`: the second replaces a file the first
    wrote. Direct, its layer holds what the overlay's upper dir would (ADD takes that path)."""
    ctx = write_context(tmp_path / "ctx", {"passwd": "root:x:0:0::/root:/bin/sh\n"})
    os.chmod(ctx / "passwd", 0o600)
    _, _, direct = build(store, ctx, f"{FROM}\nCOPY passwd /etc/passwd\n")
    assert went_direct(store, direct)  # before the overlay's build: equal layers share one snapshot
    _, _, overlay = build(store, ctx, f"{FROM}\nADD passwd /etc/passwd\n")
    assert not went_direct(store, overlay)
    a, b = layer_entries(store, direct), layer_entries(store, overlay)
    assert set(a) == set(b) == {"etc", "etc/passwd"}
    for name in a:
        assert a[name][:4] == b[name][:4], name
    root = tree(store, direct, tmp_path / "out")
    assert (root / "etc/passwd").read_text() == "root:x:0:0::/root:/bin/sh\n"
    assert stat.S_IMODE(os.stat(root / "etc/passwd").st_mode) == 0o600


def test_replacing_a_symlink_goes_through_the_overlay(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"f": "file\n"})
    _, _, image = build(store, ctx, f"{FROM}\nRUN ln -s /etc/hostname /l\nCOPY f /l\n")
    assert not went_direct(store, image)
    assert (tree(store, image, tmp_path / "out") / "l").read_text() == "file\n"


def test_a_copy_holding_symlinks_links_nothing(store, tmp_path):
    """With a symlink among the entries, a path may not name the file its entry wrote
    (a later entry can write through the link), so no file is vouched for or linked."""
    pad = {f"s/pad{i}.txt": f"{i}\n" for i in range(8)}  # past the small-copy cut, which never links
    ctx = write_context(tmp_path / "ctx", {"s/f.txt": "f\n", "s/g.txt": "g\n", **pad})
    os.symlink("f.txt", ctx / "s/link")
    dockerfile = f"{FROM}\nCOPY s /app/\n"
    _, _, first = build(store, ctx, dockerfile)
    (ctx / "s/g.txt").write_text("g2\n")
    _, _, second = build(store, ctx, dockerfile)
    assert went_direct(store, first) and went_direct(store, second)
    old, new = snapshot(store, first), snapshot(store, second)
    assert os.lstat(old / "app/f.txt").st_ino != os.lstat(new / "app/f.txt").st_ino
    assert os.readlink(new / "app/link") == "f.txt"
    assert json.loads(new.with_suffix(".files").read_text())["linkable"] is False


def test_edit_splices_unchanged_entries_from_previous_layer(store, tmp_path, monkeypatch):
    """After a one-file edit the layer is byte-equal to one written afresh, and the
    unchanged files' bytes come from the previous layer: a file rewritten behind the stat
    cache's back (same size, mtime and inode) is not read again."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")  # /app is dated by its build: two builds, one date
    long_dir = "deep/" + "d" * 120  # PAX headers spliced too
    files = {f"{long_dir}/f{i:02d}.txt": f"file {i}\n" for i in range(30)}
    ctx = write_context(tmp_path / "ctx", {**files, "z.txt": "zz\n"})
    dockerfile = f"{FROM}\nCOPY . /app/\n"
    build(store, ctx, dockerfile)
    (ctx / "z.txt").write_text("z2\n")
    unchanged = ctx / long_dir / "f03.txt"
    before = os.stat(unchanged)
    with open(unchanged, "r+") as f:
        f.write("FILE 3\n")  # same size, same inode
    os.utime(unchanged, ns=(before.st_atime_ns, before.st_mtime_ns))
    _, _, spliced = build(store, ctx, dockerfile)
    entries = layer_entries(store, spliced)
    assert entries["app/z.txt"][4] == b"z2\n"
    assert entries[f"app/{long_dir}/f03.txt"][4] == b"file 3\n"  # from the previous layer
    shutil.rmtree(os.path.join(snapshots_dir(store), "last"))  # nothing to splice from: every file read
    (ctx / long_dir / "f03.txt").write_text("file 3\n")
    os.utime(unchanged, ns=(before.st_atime_ns, before.st_mtime_ns))
    _, _, fresh = build(store, ctx, dockerfile, no_cache=True)
    assert fresh.diff_ids[-1] == spliced.diff_ids[-1]


def _holding(store, rel: str, but: Path) -> Path:
    """The one other snapshot that holds `rel`."""
    found = [d for d in Path(snapshots_dir(store)).iterdir() if d != but and (d / rel).exists()]
    assert len(found) == 1, found
    return found[0]


COPIED_VENV = f"""{FROM} AS builder
RUN mkdir -p /venv/lib && for i in $(seq 1 20); do echo "v$i" > /venv/lib/m$i.py; done && chmod 0700 /venv/lib/m1.py
"""


def test_a_copy_from_a_stage_links_the_files_of_that_stages_snapshot(store, tmp_path):
    """COPY --from=builder /venv: the new snapshot holds the builder's very files (one
    inode each, none written twice), and the image is what its layer says (build()
    compares the view with an unpack)."""
    _, _, image = build(store, None, COPIED_VENV + f"FROM {BUSYBOX}\nCOPY --from=builder /venv /opt/venv\n")
    ours = snapshot(store, image)
    theirs = _holding(store, "venv/lib/m3.py", ours)
    for name in ("m1.py", "m3.py", "m20.py"):
        assert os.stat(ours / "opt/venv/lib" / name).st_ino == os.stat(theirs / "venv/lib" / name).st_ino
    root = tree(store, image, tmp_path / "out")
    assert (root / "opt/venv/lib/m3.py").read_text() == "v3\n"
    assert stat.S_IMODE(os.stat(root / "opt/venv/lib/m1.py").st_mode) == 0o700


def test_a_copy_into_a_stack_holding_the_source_links_nothing(store, tmp_path):
    """FROM builder, then COPY --from=builder: the builder's snapshot is in the stack the
    copy lands on, where one inode under two names is not allowed."""
    _, _, image = build(store, None, COPIED_VENV + "FROM builder\nCOPY --from=builder /venv /copy\n")
    ours = snapshot(store, image)
    theirs = _holding(store, "venv/lib/m3.py", ours)
    assert os.stat(ours / "copy/lib/m3.py").st_ino != os.stat(theirs / "venv/lib/m3.py").st_ino
    assert (tree(store, image, tmp_path / "out") / "copy/lib/m3.py").read_text() == "v3\n"
