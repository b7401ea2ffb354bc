"""Layers: create from trees and overlay upper dirs, apply back, compress, verify."""

import io
import os
import stat
import subprocess

import pytest

from distill.errors import VerificationError
from distill.image.layers.apply import apply_tar
from distill.image.layers.blob import apply_layer, verify_diff_id, write_layer
from distill.image.layers.compress import CompressingSink, decompressed
from distill.image.layers.create import write_tree
from distill.image.layers.tarstream import TarReader
from distill.image.store import Store
from tartools import build, entry


def make_tree(root):
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(b"\x7fELF" + b"\0" * 100)
    os.chmod(root / "bin" / "tool", 0o4755)
    os.link(root / "bin" / "tool", root / "bin" / "tool-alias")
    os.symlink("../etc/passwd", root / "bin" / "link")
    (root / "empty").mkdir()
    os.mkfifo(root / "fifo")
    os.chown(root / "etc" / "passwd", 1234, 5678)
    os.setxattr(root / "bin" / "tool", "security.capability",
                bytes.fromhex("0100000200200000000000000000000000000000"))
    os.setxattr(root / "bin" / "tool", "user.note", b"\xff\x00binary")


def tar_of(tree, **kw):
    buf = io.BytesIO()
    write_tree(tree, buf, **kw)
    return buf.getvalue()


def test_round_trip_keeps_types_modes_owners_links_xattrs(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    apply_tar(io.BytesIO(tar_of(src)), dst)
    assert (dst / "etc/passwd").read_text().startswith("root:")
    st = os.stat(dst / "etc/passwd")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert stat.S_IMODE(os.stat(dst / "bin/tool").st_mode) == 0o4755
    assert os.stat(dst / "bin/tool").st_ino == os.stat(dst / "bin/tool-alias").st_ino
    assert os.readlink(dst / "bin/link") == "../etc/passwd"
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    assert (dst / "empty").is_dir()
    assert os.getxattr(dst / "bin/tool", "security.capability")[:4] == bytes.fromhex("01000002")
    assert os.getxattr(dst / "bin/tool", "user.note") == b"\xff\x00binary"
    assert os.stat(dst / "etc/passwd").st_mtime == int(os.stat(src / "etc/passwd").st_mtime)


def test_tar_is_deterministic_and_sorted(tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    a, b = tar_of(src), tar_of(src)
    assert a == b
    names = [e.name for e in TarReader(io.BytesIO(a))]
    assert names == ["bin/", "bin/link", "bin/tool", "bin/tool-alias", "empty/", "etc/", "etc/passwd", "fifo"]
    hard = [e for e in TarReader(io.BytesIO(a)) if e.name == "bin/tool-alias"][0]
    assert hard.type == "1" and hard.linkname == "bin/tool"
    assert all(e.uid in (0, 1234) for e in TarReader(io.BytesIO(a)))
    assert b"root" not in a.split(b"etc/passwd")[0][-400:]  # no user names in headers


def test_source_date_epoch_clamps_mtimes(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_tree(src)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")
    assert {e.mtime for e in TarReader(io.BytesIO(tar_of(src)))} == {1000}


def test_overlay_upper_whiteouts_and_opaque(tmp_path):
    """A real overlay mount: delete a file, replace a dir; the upper dir becomes a layer."""
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged):
        d.mkdir()
    (lower / "gone").write_text("x")
    (lower / "d").mkdir()
    (lower / "d" / "old").write_text("old")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={work}", str(merged)], check=True)
    try:
        os.unlink(merged / "gone")
        import shutil
        shutil.rmtree(merged / "d")
        (merged / "d").mkdir()
        (merged / "d" / "new").write_text("new")
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    entries = {e.name: e for e in TarReader(io.BytesIO(tar_of(upper, overlay_upper=True)))}
    assert ".wh.gone" in entries and "d/.wh..wh..opq" in entries and "d/new" in entries
    assert not any("overlay" in k for e in entries.values() for k in e.xattrs)
    # applying lower then the layer gives the merged view
    flat = tmp_path / "flat"
    apply_tar(io.BytesIO(tar_of(lower)), flat)
    apply_tar(io.BytesIO(tar_of(upper, overlay_upper=True)), flat)
    assert sorted(os.listdir(flat)) == ["d"] and os.listdir(flat / "d") == ["new"]


def test_overlay_mode_apply_makes_a_usable_lower_dir(tmp_path):
    data = build(entry("d", "dir"), entry("d/.wh..wh..opq"), entry("d/keep", data=b"k"), entry(".wh.gone"))
    layer_dir = tmp_path / "l1"
    apply_tar(io.BytesIO(data), layer_dir, whiteouts="overlay")
    assert os.getxattr(layer_dir / "d", "trusted.overlay.opaque") == b"y"
    st = os.lstat(layer_dir / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_opaque_keeps_entries_of_the_same_layer(tmp_path):
    root = tmp_path / "r"
    apply_tar(io.BytesIO(build(entry("d", "dir"), entry("d/lower", data=b"1"))), root)
    apply_tar(io.BytesIO(build(entry("d", "dir"), entry("d/mine", data=b"2"), entry("d/.wh..wh..opq"))), root)
    assert os.listdir(root / "d") == ["mine"]


def test_whiteout_removes_directory_trees(tmp_path):
    root = tmp_path / "r"
    apply_tar(io.BytesIO(build(entry("d", "dir"), entry("d/a", data=b"1"), entry("f", data=b"2"))), root)
    apply_tar(io.BytesIO(build(entry(".wh.d"), entry(".wh.f"), entry(".wh.never-existed"))), root)
    assert os.listdir(root) == []


def test_file_replaces_dir_and_dir_replaces_file(tmp_path):
    root = tmp_path / "r"
    apply_tar(io.BytesIO(build(entry("a", "dir"), entry("a/x", data=b"1"), entry("b", data=b"2"))), root)
    apply_tar(io.BytesIO(build(entry("a", data=b"now a file"), entry("b", "dir"), entry("b/y", data=b"3"))), root)
    assert (root / "a").read_bytes() == b"now a file" and (root / "b" / "y").read_bytes() == b"3"


def test_missing_parents_are_created(tmp_path):
    root = tmp_path / "r"
    apply_tar(io.BytesIO(build(entry("deep/er/file", data=b"x"))), root)
    assert (root / "deep/er/file").read_bytes() == b"x"


def test_merged_usr_symlink_parent_is_followed_inside(tmp_path):
    root = tmp_path / "r"
    apply_tar(io.BytesIO(build(entry("usr/lib", "dir"), entry("lib", "symlink", linkname="usr/lib"))), root)
    apply_tar(io.BytesIO(build(entry("lib/libfoo.so", data=b"so"))), root)
    assert (root / "usr/lib/libfoo.so").read_bytes() == b"so"


def test_device_nodes_as_root(tmp_path):
    root = tmp_path / "r"
    import tarfile

    t = tarfile.TarInfo("dev/zero")
    t.type, t.devmajor, t.devminor, t.mode = tarfile.CHRTYPE, 1, 5, 0o666
    data = build(entry("dev", "dir"), (t, b""))
    apply_tar(io.BytesIO(data), root)
    st = os.lstat(root / "dev/zero")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 5
    assert stat.S_IMODE(st.st_mode) == 0o666


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
def test_layer_blob_round_trip(tmp_path, kind):
    store = Store(tmp_path / "store")
    src = tmp_path / "src"
    make_tree(src)
    layer = write_layer(store, src, kind)
    assert store.has_blob(layer.descriptor["digest"])
    assert layer.descriptor["size"] == store.blob_size(layer.descriptor["digest"])
    assert verify_diff_id(store, layer.descriptor, layer.diff_id) == layer.uncompressed_size
    dst = tmp_path / "dst"
    apply_layer(store, layer.descriptor, dst)
    assert (dst / "bin/tool").read_bytes().startswith(b"\x7fELF")
    again = write_layer(store, src, kind)
    assert again == layer  # same tree, same blob


def test_diff_id_mismatch_is_reported(tmp_path):
    store = Store(tmp_path / "store")
    src = tmp_path / "src"
    make_tree(src)
    layer = write_layer(store, src)
    with pytest.raises(VerificationError, match="diffID"):
        verify_diff_id(store, layer.descriptor, "sha256:" + "0" * 64)


def test_compressing_sink_streams_in_chunks():
    out = io.BytesIO()
    sink = CompressingSink(out, "gzip")
    for _ in range(64):
        sink.write(b"a" * 65536)
    sink.finish()
    assert sink.uncompressed_size == 64 * 65536
    assert decompressed(io.BytesIO(out.getvalue()), "gzip").read() == b"a" * (64 * 65536)
