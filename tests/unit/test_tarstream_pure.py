import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distill.errors import UnsafeLayer
from distill.image.layers.tarstream import TarReader, parse_pax
from distill import platform as platforms
from distill.errors import DistillError


def test_parse_pax_records():
    assert parse_pax(b"11 path=ab\n21 SCHILY.xattr.x=\x00\x01\n") == {"path": b"ab", "SCHILY.xattr.x": b"\x00\x01"}


@pytest.mark.parametrize("bad", [b"x path=a\n", b"99 path=a\n", b"5 pa\n", b"9 path=a "])
def test_parse_pax_malformed(bad):
    with pytest.raises(UnsafeLayer):
        parse_pax(bad)


def _tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_reader_reads_long_names_and_data():
    long = "d/" + "x" * 200
    entries = [(e.name, e.read()) for e in TarReader(io.BytesIO(_tar([("a", b"1"), (long, b"22")])))]
    assert entries == [("a", b"1"), (long, b"22")]


def test_reader_skips_unread_data():
    names = [e.name for e in TarReader(io.BytesIO(_tar([("a", b"1" * 3000), ("b", b"")])))]
    assert names == ["a", "b"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096), st.integers(min_value=0, max_value=3000))
def test_reader_on_mutated_tar_returns_or_raises_cleanly(noise, at):
    data = bytearray(_tar([("a/b", b"hello" * 100), ("c", b"x")]))
    data[at : at + len(noise)] = noise
    try:
        for e in TarReader(io.BytesIO(bytes(data))):
            e.read()
    except UnsafeLayer:
        pass


def test_platform_choose():
    ms = [
        {"digest": "a", "platform": {"os": "unknown", "architecture": "unknown"}},
        {"digest": "b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "c", "platform": {"os": "linux", "architecture": "amd64"}},
    ]
    assert platforms.choose(ms, platforms.parse("linux/amd64"))["digest"] == "c"
    assert platforms.choose(ms, platforms.parse("linux/arm64/v8"))["digest"] == "b"
    with pytest.raises(DistillError, match="no image for platform linux/s390x"):
        platforms.choose(ms, platforms.parse("linux/s390x"))
    with pytest.raises(DistillError):
        platforms.parse("linux")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=120),
       st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                        tarfile.FIFOTYPE]),
       st.integers(0, 0o7777), st.integers(0, 2**22), st.integers(0, 2**22), st.integers(0, 2**34),
       st.integers(0, 2**33), st.text(alphabet="abc/.", max_size=110), st.integers(0, 300), st.integers(0, 300))
def test_fast_ustar_header_matches_tarfile(name, typ, mode, uid, gid, size, mtime, link, major, minor):
    from distill.image.layers.create import ustar_header

    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = typ, mode, uid, gid, mtime
    info.size = size if typ == tarfile.REGTYPE else 0
    info.linkname = link if typ in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    if typ == tarfile.CHRTYPE:
        info.devmajor, info.devminor = major, minor
    info.uname = info.gname = ""
    fast = ustar_header(info)
    if fast is not None:
        assert fast == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def test_native_platform_ignores_a_missing_variant(monkeypatch):
    monkeypatch.setattr(platforms, "host", lambda: platforms.Platform("linux", "arm64", "v8"))
    assert platforms.is_native(platforms.parse("linux/arm64"))
    assert platforms.is_native(platforms.parse("linux/arm64/v8"))
    assert not platforms.is_native(platforms.parse("linux/arm64/v7"))
    assert not platforms.is_native(platforms.parse("linux/amd64"))


def test_copy_items_tar_is_tarfiles_tar():
    """write_tar builds headers from the items directly; the archive is byte for byte the
    one tarfile writes for the same entries (PAX where a name, link or xattr needs it)."""
    import io

    from distill.build.solver.copy import CopyItem, write_tar

    long = "d/" + "n" * 120
    items = [
        CopyItem("d", "5", 0o755, 0, 0, 1_700_000_000),
        CopyItem("d/f.txt", "0", 0o644, 1000, 1000, 1_700_000_001.7, size=5, data=b"hello"),
        CopyItem(long, "0", 0o600, 0, 0, 1_700_000_002, size=0, data=b""),
        CopyItem("d/link", "2", 0o777, 0, 0, 1_700_000_003, linkname="f.txt"),
        CopyItem("d/fifo", "6", 0o644, 0, 0, 1_700_000_004),
        CopyItem("d/null", "3", 0o666, 0, 0, 1_700_000_005, devmajor=1, devminor=3),
        CopyItem("d/cap", "0", 0o755, 0, 0, 1_700_000_006, size=2, data=b"#!",
                 xattrs={"security.capability": b"\x01\x00"}),
    ]
    ours = io.BytesIO()
    starts = write_tar(items, ours)
    theirs = io.BytesIO()
    with tarfile.open(fileobj=theirs, mode="w", format=tarfile.PAX_FORMAT) as t:
        for it in items:
            info = tarfile.TarInfo(it.name)
            info.type, info.mode, info.uid, info.gid = it.type.encode(), it.mode, it.uid, it.gid
            info.mtime, info.linkname, info.uname, info.gname = int(it.mtime), it.linkname, "", ""
            info.devmajor, info.devminor = it.devmajor, it.devminor
            info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in it.xattrs.items()}
            info.size = it.size
            t.addfile(info, io.BytesIO(it.data) if it.size else None)
    ours_b, theirs_b = ours.getvalue(), theirs.getvalue()
    assert ours_b == theirs_b[:len(ours_b)] and not theirs_b[len(ours_b):].strip(b"\0")  # tarfile pads to a record
    assert [starts[it.name] for it in items] == [
        m.offset for m in tarfile.open(fileobj=io.BytesIO(ours_b)).getmembers()]
