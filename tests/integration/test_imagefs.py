"""imagefs: an image's files read from its layers' headers equal what unpacking gives,
on every layer case; contents come from the blobs or the snapshots; hostile layers are
refused; `ls` and `export` on the command line."""

import json
import marshal
import os
import tarfile

import pytest

from clirun import distill
from distill import api
from distill.errors import UnsafeLayer
from distill.image.imagefs import ImageFS
from distill.image.store.images import from_descriptor
from distill.image.layers import toc as tocs
from imagetools import assert_view_is_unpack, image_of, tree_facts, unpacked, view_facts
from tartools import build, entry

LONG = "d/" + "x" * 120 + "/" + "y" * 150

CASES = {
    "files and dirs": [build(entry("etc", "dir"), entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
                             entry("bin", "dir", mode=0o711), entry("bin/sh", data=b"\x7fELF", mode=0o755),
                             entry("tmp", "dir", mode=0o1777), entry("setuid", data=b"s", mode=0o4755, uid=5, gid=7))],
    "whiteouts": [build(entry("a", "dir"), entry("a/f", data=b"1"), entry("a/g", data=b"2"), entry("b", "dir"),
                        entry("b/deep", "dir"), entry("b/deep/f", data=b"3")),
                  build(entry("a/.wh.f"), entry(".wh.b"), entry("a/new", data=b"4"))],
    "opaque dir": [build(entry("o", "dir"), entry("o/old", data=b"old"), entry("o/sub", "dir"),
                         entry("o/sub/x", data=b"x")),
                   build(entry("o", "dir"), entry("o/mine", data=b"mine"), entry("o/.wh..wh..opq"))],
    "dir replaced by a file and back": [
        build(entry("p", "dir"), entry("p/in", data=b"in"), entry("q", data=b"file q")),
        build(entry("p", data=b"now a file"), entry("q", "dir"), entry("q/child", data=b"c")),
        build(entry("p", "dir", mode=0o700), entry("p/again", data=b"again"))],
    "hard links": [build(entry("usr", "dir"), entry("usr/python3.11", data=b"PY" * 1000, mode=0o755),
                         entry("usr/python3", "hardlink", linkname="usr/python3.11"),
                         entry("keep", data=b"k")),
                   build(entry("usr/python3.11", data=b"new interpreter"),  # the link keeps the old inode
                         entry("k2", "hardlink", linkname="keep"))],
    "long names and PAX": [build(entry(LONG, data=b"long"), entry("é-ünïcode", data=b"u"),
                                 entry("big-ids", data=b"b", uid=3_000_000, gid=4_000_000),
                                 entry("link-long", "symlink", linkname="/" + LONG)),
                           build(entry("gnu-" + "z" * 200, data=b"gnu"), fmt=tarfile.GNU_FORMAT)],
    "symlinked parents (merged /usr)": [
        build(entry("usr", "dir"), entry("usr/lib", "dir"), entry("lib", "symlink", linkname="usr/lib"),
              entry("rel", "symlink", linkname="usr")),
        build(entry("lib/libc.so", data=b"libc"), entry("rel/lib/more", data=b"m"))],
    "implicit parents and a dir listed again": [
        build(entry("x/y/z", data=b"z")),
        build(entry("x", "dir", mode=0o750, uid=1), entry("x/y/w", data=b"w"))],
    "specials": [build(entry("fifo", "fifo"), entry("dev", "dir"), entry("dev/null", "chr"))],
}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_view_is_the_unpacked_tree(store, tmp_path, case, compress):
    image = image_of(store, CASES[case], compress)
    assert_view_is_unpack(store, image, tmp_path / "unpacked")


def test_hard_link_types_and_shared_inodes(store):
    image = image_of(store, CASES["hard links"])
    fs = ImageFS(store, image.layers, image.diff_ids)
    link = fs.stat("/usr/python3")
    assert link.type == "1" and link.inode.size == 2000 and link.layer == 0
    assert fs.read("/usr/python3") == b"PY" * 1000  # the first layer's interpreter, still
    assert fs.read("/usr/python3.11") == b"new interpreter"
    assert fs.read("/k2") == b"k" and fs.stat("/k2").layer == 1


def test_symlinks_are_followed_inside_the_image(store):
    image = image_of(store, [build(entry("etc", "dir"), entry("etc/os-release", data=b"ID=debian\n"),
                                   entry("usr", "dir"), entry("usr/lib", "dir"),
                                   entry("usr/lib/os-release", "symlink", linkname="../../etc/os-release"),
                                   entry("escape", "symlink", linkname="../../../../etc/os-release"),
                                   entry("loop", "symlink", linkname="loop"))])
    fs = ImageFS(store, image.layers, image.diff_ids)
    assert fs.read("/usr/lib/os-release") == b"ID=debian\n"
    assert fs.read("/escape") == b"ID=debian\n"  # `..` stops at the image's root
    assert fs.stat("/loop", follow=True) is None
    assert fs.stat("/usr/lib/os-release").type == "2"


def test_contents_of_a_compressed_layer_in_one_pass(store):
    files = [entry(f"f{i:03d}", data=os.urandom(3000)) for i in range(200)]
    image = image_of(store, [build(*files)], compress=True)
    fs = ImageFS(store, image.layers, image.diff_ids)
    nodes = [fs.stat(f"/f{i:03d}") for i in reversed(range(200))]
    got = {n.entry: s.read() for n, s in fs.contents(nodes)}
    assert got == {info.name: data for info, data in files}


def test_contents_come_from_the_snapshot_when_there_is_one(store, tmp_path):
    from distill.image.layers.unpack import unpacked as unpack_layer

    image = image_of(store, [build(entry("a", data=b"from the layer"))], compress=True)
    snapshot = unpack_layer(store, image.layers[0], image.diff_ids[0])
    with open(os.path.join(snapshot, "a"), "r+b") as f:
        f.write(b"FROM")  # marks where the bytes came from; same size
    fs = ImageFS(store, image.layers, image.diff_ids)
    assert fs.read("/a") == b"FROM the layer"


def test_the_table_of_contents_is_made_once_and_kept(store, monkeypatch):
    image = image_of(store, [build(entry("a", data=b"1"))], compress=True)
    ImageFS(store, image.layers, image.diff_ids)
    path = tocs.toc_path(store, image.diff_ids[0])
    assert marshal.loads(open(path, "rb").read())["entries"][0][:2] == ["a", "0"]

    def no_scan(*a):
        raise AssertionError("scanned again")

    monkeypatch.setattr(tocs, "scan", no_scan)
    assert ImageFS(store, image.layers, image.diff_ids).read("/a") == b"1"
    open(path, "wb").write(open(path, "rb").read()[:40])
    monkeypatch.undo()
    assert ImageFS(store, image.layers, image.diff_ids).read("/a") == b"1"  # a torn cache is made again


HOSTILE = {
    "climbs out": (build(entry("../evil", data=b"x")), "climbs out"),
    "absolute": (build(entry("/etc/evil", data=b"x")), "absolute"),
    "symlink parent out": (build(entry("up", "symlink", linkname="../.."), entry("up/evil", data=b"x")),
                           "outside the root"),
    "hard link to nothing": (build(entry("l", "hardlink", linkname="missing")), "does not exist"),
    "hard link to a dir": (build(entry("d", "dir"), entry("l", "hardlink", linkname="d")), "directory"),
    "replaces the root": (build(entry(".", data=b"x")), "replace the root"),
    "whiteout of ..": (build(entry("a", "dir"), entry("a/.wh..."), ), "names"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused(store, case):
    tar, match = HOSTILE[case]
    image = image_of(store, [tar])
    with pytest.raises(UnsafeLayer, match=match):
        ImageFS(store, image.layers, image.diff_ids)


def test_a_size_past_the_end_is_refused(store):
    data = bytearray(build(entry("a", data=b"abc")))
    header = bytearray(data[:512])
    header[124:136] = b"%011o\0" % (1 << 30)  # claims a GiB the blob does not have
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    image = image_of(store, [bytes(header) + bytes(data[512:])])
    with pytest.raises(UnsafeLayer, match="truncated"):
        ImageFS(store, image.layers, image.diff_ids)


def test_absurd_entry_counts_are_refused(store, monkeypatch):
    monkeypatch.setattr(tocs, "MAX_ENTRIES", 50)
    image = image_of(store, [build(*[entry(f"f{i}") for i in range(51)])])
    with pytest.raises(UnsafeLayer, match="more than 50 entries"):
        ImageFS(store, image.layers, image.diff_ids)


def test_a_layer_that_is_not_its_diff_id_is_refused(store):
    from distill.errors import VerificationError

    image = image_of(store, [build(entry("a", data=b"1"))], compress=True)
    with pytest.raises(VerificationError, match="diffID"):
        ImageFS(store, image.layers, ["sha256:" + "0" * 64])


def test_export_reimported_gives_the_same_tree(store, tmp_path):
    layers = CASES["whiteouts"] + CASES["hard links"] + CASES["long names and PAX"] + CASES["opaque dir"]
    image = image_of(store, layers, compress=True, name="localhost/exp:1")
    out = tmp_path / "flat.tar"
    distill("export", "localhost/exp:1", "-o", out, root=store.root)
    with tarfile.open(out) as t:
        names = t.getnames()
        assert not any(".wh." in n for n in names) and len(names) == len(set(names))
    with open(out, "rb") as f:
        desc = api.import_rootfs(store, f, "localhost/exp:flat")
    flat = from_descriptor(store, desc)
    want = tree_facts(unpacked(store, image, tmp_path / "a"))
    assert tree_facts(unpacked(store, flat, tmp_path / "b")) == want
    assert view_facts(ImageFS(store, flat.layers, flat.diff_ids)) == want
    # standard output, byte for byte the file
    r = distill("export", "localhost/exp:1", "-o", "-", root=store.root, text=False)
    assert r.stdout == out.read_bytes()


def test_ls_on_the_command_line(store, tmp_path):
    image_of(store, CASES["files and dirs"] + CASES["hard links"], name="localhost/ls:1")
    rows = json.loads(distill("ls", "localhost/ls:1", "/", "--json", root=store.root).stdout)
    by = {r["path"]: r for r in rows}
    assert sorted(by) == ["/bin", "/etc", "/k2", "/keep", "/setuid", "/tmp", "/usr"]
    assert by["/setuid"] == {"path": "/setuid", "type": "file", "mode": 0o4755, "uid": 5, "gid": 7, "size": 1,
                             "target": None, "layer": 0, "stage": None, "line": None}
    assert by["/k2"]["type"] == "hardlink" and by["/k2"]["target"] == "keep" and by["/k2"]["layer"] == 2
    assert by["/tmp"]["mode"] == 0o1777
    deep = json.loads(distill("ls", "localhost/ls:1", "/usr", "-R", "--json", root=store.root).stdout)
    assert [r["path"] for r in deep] == ["/usr/python3", "/usr/python3.11"]
    long = distill("ls", "-l", "localhost/ls:1", "/", root=store.root).stdout.splitlines()
    assert any(line.startswith("-rwsr-xr-x 5/7          1   0 ") and line.endswith(" setuid") for line in long)
    assert any(line.startswith("drwxrwxrwt ") for line in long)
    r = distill("ls", "localhost/ls:1", "/nope", root=store.root, check=False)
    assert r.returncode == 1 and r.stderr.strip() == "distill: error: /nope: no such file or directory in localhost/ls:1"


@pytest.fixture
def built(store, busybox_store, tmp_path):
    """A busybox image with a layer of its own, named, and its listing as the store gives it."""
    from bed.images import copy_image
    from buildtools import BUSYBOX, build, write_context

    copy_image(busybox_store, store, BUSYBOX)
    ctx = write_context(tmp_path / "ctx", {"app/run.sh": "echo hi\n", "app/other.txt": "o\n"})
    build(store, ctx, f"FROM {BUSYBOX}\nCOPY app/ /app/\nRUN ln /app/run.sh /app/again\n", tags=["localhost/src:1"])
    listing = json.loads(distill("ls", "-R", "--json", "localhost/src:1", root=store.root).stdout)
    return store, listing


def without_attribution(rows):
    return [{k: v for k, v in r.items() if k not in ("stage", "line")} for r in rows]


@pytest.mark.parametrize("fmt, prefix", [("docker", ""), ("docker", "docker-archive:"), ("oci", "oci-archive:")])
def test_archives_are_read_without_naming_anything(built, tmp_path, fmt, prefix):
    store, listing = built
    archive = tmp_path / f"img-{fmt}.tar"
    distill("save", "localhost/src:1", "-o", archive, "--format", fmt, root=store.root)
    other = tmp_path / "other"
    rows = json.loads(distill("ls", "-R", "--json", f"{prefix}{archive}", root=other).stdout)
    assert without_attribution(rows) == without_attribution(listing)
    assert distill("images", "-q", root=other).stdout == ""  # nothing named
    # read in place: no layer was copied into the store
    blobs = other / "blobs" / "sha256"
    assert not blobs.exists() or list(blobs.iterdir()) == []
    # contents too, through windows of the archive (gzip-compressed layers in the OCI one)
    out = tmp_path / f"flat-{fmt}.tar"
    distill("export", f"{prefix}{archive}", "-o", out, root=other)
    with tarfile.open(out) as t:
        assert t.extractfile("app/again").read() == b"echo hi\n"


def test_oci_layout_directories_are_read_in_place(built, tmp_path):
    """`oci:DIR[:NAME]` as skopeo writes it: listed, exported and checked without a blob
    copied into the store; a directory of two images needs the name."""
    import subprocess

    store, listing = built
    archive = tmp_path / "img.tar"
    distill("save", "localhost/src:1", "-o", archive, "--format", "oci", root=store.root)
    layout = tmp_path / "layout"
    for tag in ("one", "two"):
        subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{archive}", f"oci:{layout}:{tag}"], check=True)
    other = tmp_path / "other"
    rows = json.loads(distill("ls", "-R", "--json", f"oci:{layout}:one", root=other).stdout)
    assert without_attribution(rows) == without_attribution(listing)
    out = tmp_path / "flat.tar"
    distill("export", f"oci:{layout}:two", "-o", out, root=other)
    with tarfile.open(out) as t:
        assert t.extractfile("app/run.sh").read() == b"echo hi\n"
    assert json.loads(distill("size", "--format", "json", f"oci:{layout}:one", root=other).stdout)["size"] == \
        json.loads(distill("size", "--format", "json", "localhost/src:1", root=store.root).stdout)["size"]
    blobs = other / "blobs" / "sha256"
    assert not blobs.exists() or list(blobs.iterdir()) == []
    r = distill("ls", f"oci:{layout}", root=other, check=False)
    assert r.returncode == 1 and r.stderr.strip() == \
        f"distill: error: {layout}: holds 2 images; name one as oci:{layout}:NAME"
    r = distill("ls", f"oci:{layout}:three", root=other, check=False)
    assert r.returncode == 1 and r.stderr.strip() == f"distill: error: {layout}: no image named 'three'"


def test_an_oci_layout_that_lies_about_a_digest_is_refused(built, tmp_path):
    import subprocess

    store, _ = built
    archive = tmp_path / "img.tar"
    distill("save", "localhost/src:1", "-o", archive, "--format", "oci", root=store.root)
    layout = tmp_path / "layout"
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{archive}", f"oci:{layout}:one"], check=True)
    index = json.loads((layout / "index.json").read_text())
    manifest = layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest.write_bytes(manifest.read_bytes().replace(b'"layers"', b'"layers" '))
    r = distill("ls", f"oci:{layout}", root=tmp_path / "other", check=False)
    assert r.returncode == 1 and r.stderr.strip() == \
        f"distill: error: blob {index['manifests'][0]['digest']} does not match its digest"
    # indexes nested deeper than any real image's are refused, not followed
    from distill import digest as digests
    from distill import platform as platforms

    host = platforms.host()
    top = dict(index["manifests"][0])
    for _ in range(4):
        doc = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                          "manifests": [top]}).encode()
        d = digests.of_bytes(doc)
        (layout / "blobs" / "sha256" / d.split(":")[1]).write_bytes(doc)
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": len(doc),
               "platform": {"os": host.os, "architecture": host.architecture}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    r = distill("ls", f"oci:{layout}", root=tmp_path / "other", check=False)
    assert r.returncode == 1 and r.stderr.strip().endswith(": indexes nested too deep")


def test_registry_images_are_read_from_their_blobs(built, registry, tmp_path):
    store, listing = built
    dest = f"{registry.host}/imagefs/src:1"
    api.push(store, "localhost/src:1", dest)
    other = tmp_path / "other"
    for text in (dest, f"docker://{dest}"):
        rows = json.loads(distill("ls", "-R", "--json", text, root=other).stdout)
        assert without_attribution(rows) == without_attribution(listing)
    assert distill("images", "-q", root=other).stdout == ""
    out = tmp_path / "flat.tar"
    distill("export", dest, "-o", out, root=other)
    with tarfile.open(out) as t:
        assert t.extractfile("app/run.sh").read() == b"echo hi\n"
        # one name carries the content, the other is a hard link to it
        assert t.getmember("app/run.sh").islnk() and t.getmember("app/run.sh").linkname == "app/again"


def test_ls_names_the_stage_and_line_that_wrote_each_entry(built):
    store, listing = built
    by = {r["path"]: r for r in listing}
    assert (by["/app/other.txt"]["stage"], by["/app/other.txt"]["line"]) == ("stage-0", 2)
    # the RUN's `ln` copied the file up into its own layer: that layer wrote both names now
    assert by["/app/run.sh"]["line"] == by["/app/again"]["line"] == 3
    assert {by["/app/run.sh"]["type"], by["/app/again"]["type"]} == {"file", "hardlink"}
    assert by["/bin/busybox"]["layer"] == 0 and by["/bin/busybox"]["line"] is None  # the base's
    long = distill("ls", "-l", "localhost/src:1", "/app", root=store.root).stdout
    assert "busybox-static rootfs" not in long and "stage-0:2 " in long
