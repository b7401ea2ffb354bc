"""Layer tars from strangers: nothing may be written, deleted or chmod'ed outside the root."""

import io
import os
import tarfile

import pytest

from distill.errors import UnsafeLayer
from distill.image.layers.apply import apply_tar
from tartools import build, entry


def snapshot(path):
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            data = open(p, "rb").read() if os.path.isfile(p) and not os.path.islink(p) else None
            out[os.path.relpath(p, path)] = (st.st_mode, st.st_uid, st.st_mtime_ns, data)
    st = os.lstat(path)
    out["."] = (st.st_mode, st.st_uid, st.st_mtime_ns, None)
    return out


@pytest.fixture
def bed(tmp_path):
    """root/ is where layers go; outside/ holds a canary no layer may touch."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_text("alive")
    (outside / "dir").mkdir()
    (outside / "dir" / "inner").write_text("alive too")
    os.chmod(outside / "canary", 0o600)
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(outside)
    top_before = sorted(os.listdir(tmp_path))

    class Bed:
        pass

    b = Bed()
    b.root, b.outside = root, outside

    def apply(data, **kw):
        return apply_tar(io.BytesIO(data), root, **kw)

    b.apply = apply
    yield b
    assert snapshot(outside) == before, "something outside the root changed"
    assert sorted(os.listdir(tmp_path)) == top_before, "something appeared beside the root"


def refused(bed, data, match):
    with pytest.raises(UnsafeLayer, match=match):
        bed.apply(data)


# ---- names -------------------------------------------------------------------
def test_dotdot_name(bed):
    refused(bed, build(entry("../outside/canary", data=b"pwned")), r"climbs out")


def test_nested_dotdot_name(bed):
    refused(bed, build(entry("a/b/../../../outside/canary", data=b"pwned")), r"climbs out")


def test_absolute_name(bed):
    refused(bed, build(entry(str(bed.outside / "canary"), data=b"pwned")), r"absolute path")


def test_pax_path_overrides_to_dotdot(bed):
    refused(bed, build(entry("harmless", data=b"pwned", pax={"path": "../outside/canary"})), r"climbs out")


def test_gnu_longname_with_dotdot(bed):
    name = "../" + "a" * 120 + "/../outside/canary"
    refused(bed, build(entry(name, data=b"x"), fmt=tarfile.GNU_FORMAT), r"climbs out")


def test_entry_replacing_root_with_symlink(bed):
    refused(bed, build(entry(".", "symlink", linkname=str(bed.outside))), r"replace the root")


def test_entry_replacing_root_with_file(bed):
    refused(bed, build(entry("./", "file", data=b"x")), r"replace the root")


# ---- symlinks as parents -------------------------------------------------------
def test_relative_symlink_parent_climbing_out(bed):
    data = build(entry("link", "symlink", linkname="../outside"), entry("link/canary", data=b"pwned"))
    refused(bed, data, r"points outside the root")


def test_absolute_symlink_parent_stays_inside(bed):
    # An absolute target means the image's own '/': the write lands inside the root.
    data = build(entry("link", "symlink", linkname=str(bed.outside)), entry("link/canary", data=b"inside"))
    bed.apply(data)
    assert (bed.root / str(bed.outside).lstrip("/") / "canary").read_bytes() == b"inside"


def test_symlink_to_slash_dotdot(bed):
    refused(bed, build(entry("up", "symlink", linkname="/.."), entry("up/evil", data=b"x")), r"outside the root")


def test_symlink_chain_climbing_out(bed):
    data = build(
        entry("a", "dir"), entry("a/l1", "symlink", linkname="../l2"), entry("l2", "symlink", linkname="../outside"),
        entry("a/l1/canary", data=b"pwned"),
    )
    refused(bed, data, r"outside the root")


def test_symlink_loop(bed):
    data = build(entry("a", "symlink", linkname="b"), entry("b", "symlink", linkname="a"), entry("a/x", data=b"x"))
    refused(bed, data, r"too many levels")


def test_duplicate_dir_then_symlink_then_write_through(bed):
    data = build(entry("d", "dir"), entry("d", "symlink", linkname="../outside"), entry("d/canary", data=b"pwned"))
    refused(bed, data, r"outside the root")


def test_final_symlink_is_replaced_not_followed(bed):
    data = build(entry("x", "symlink", linkname="../outside/canary"), entry("x", data=b"mine", mode=0o777))
    bed.apply(data)
    assert not os.path.islink(bed.root / "x") and (bed.root / "x").read_bytes() == b"mine"


def test_dir_entry_over_symlink_does_not_chmod_target(bed):
    data = build(entry("d", "symlink", linkname="../outside"), entry("d", "dir", mode=0o777))
    bed.apply(data)
    assert (bed.root / "d").is_dir() and not (bed.root / "d").is_symlink()


# ---- hard links -----------------------------------------------------------------
def test_hardlink_dotdot_target(bed):
    refused(bed, build(entry("h", "hardlink", linkname="../outside/canary")), r"climbs out")


def test_hardlink_absolute_target(bed):
    refused(bed, build(entry("h", "hardlink", linkname=str(bed.outside / "canary"))), r"absolute path")


def test_hardlink_through_symlink_parent(bed):
    data = build(entry("l", "symlink", linkname="../outside"), entry("h", "hardlink", linkname="l/canary"))
    refused(bed, data, r"outside the root")


def test_hardlink_to_symlink_links_the_symlink(bed):
    data = build(entry("s", "symlink", linkname="../outside/canary"), entry("h", "hardlink", linkname="s"),
                 entry("h", "hardlink", linkname="s"))
    bed.apply(data)
    assert os.readlink(bed.root / "h") == "../outside/canary"


def test_hardlink_then_write_through_it(bed):
    # the file the link names is ours; writing the link's name replaces it, never follows
    data = build(entry("f", data=b"one"), entry("h", "hardlink", linkname="f"), entry("h", data=b"two"))
    bed.apply(data)
    assert (bed.root / "f").read_bytes() == b"one" and (bed.root / "h").read_bytes() == b"two"


# ---- whiteouts ----------------------------------------------------------------------
def test_whiteout_naming_dotdot(bed):
    refused(bed, build(entry(".wh...", data=b"")), r"names '\.\.'")


def test_whiteout_with_dotdot_parent(bed):
    refused(bed, build(entry("../outside/.wh.canary")), r"climbs out")


def test_whiteout_through_symlink_parent(bed):
    data = build(entry("l", "symlink", linkname="../outside"), entry("l/.wh.canary"))
    refused(bed, data, r"outside the root")


def test_opaque_through_symlink_parent(bed):
    data = build(entry("l", "symlink", linkname="../outside"), entry("l/.wh..wh..opq"))
    refused(bed, data, r"outside the root")


def test_opaque_through_absolute_symlink_stays_inside(bed):
    data = build(entry("l", "symlink", linkname=str(bed.outside)), entry("l/.wh..wh..opq"))
    bed.apply(data)


# ---- malformed headers ----------------------------------------------------------------
def test_oversize_pax_header(bed):
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 8**11 - 1  # 8 GiB claimed
    refused(bed, info.tobuf(tarfile.USTAR_FORMAT), r"PAX header .* exceeds")


def test_oversize_gnu_longname(bed):
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = tarfile.GNUTYPE_LONGNAME, 10 << 20
    refused(bed, info.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024, r"long name .* exceeds")


def test_bad_checksum(bed):
    data = bytearray(build(entry("f", data=b"x")))
    data[0] = ord("g")
    refused(bed, bytes(data), r"checksum")


def test_truncated_archive(bed):
    data = build(entry("big", data=b"x" * 5000))
    refused(bed, data[:2048], r"truncated")


def test_sparse_entry_refused(bed):
    refused(bed, build(entry("s", data=b"x", pax={"GNU.sparse.major": "1"})), r"sparse")


def test_overlay_xattrs_not_planted(bed):
    data = build(entry("d", "dir", pax={"SCHILY.xattr.trusted.overlay.redirect": "/outside"}))
    bed.apply(data)
    with pytest.raises(OSError):
        os.getxattr(bed.root / "d", "trusted.overlay.redirect")


def test_huge_mtime_does_not_crash(bed):
    bed.apply(build(entry("f", data=b"x", pax={"mtime": "1e30"})))
    assert (bed.root / "f").read_bytes() == b"x"


def test_refusal_leaves_earlier_entries_inside_only(bed):
    data = build(entry("ok", data=b"fine"), entry("../outside/new", data=b"pwned"))
    refused(bed, data, r"climbs out")
    assert (bed.root / "ok").read_bytes() == b"fine"
