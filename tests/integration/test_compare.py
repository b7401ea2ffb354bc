"""distill compare on images built here: files only in one, changed, by directory, with
exact counts and bytes; packages from the databases the images hold, checked against what
dpkg itself reports inside a real Debian image; and compare --stages on a build."""

import json

import pytest

from bed.images import PYTHON_BASE, copy_image
from buildtools import BUSYBOX, build, write_context
from clirun import distill
from distill import api

FROM = f"FROM {BUSYBOX}"
STATUS = """Package: tool
Status: install ok installed
Architecture: amd64
Version: 1:2.0-1

Package: removed
Status: deinstall ok config-files
Version: 0.1

Package: libfoo
Status: install ok installed
Architecture: amd64
Version: 3.1~rc1
Description: a library
 continued description: Version: not this
"""
METADATA = "Metadata-Version: 2.1\nName: Flask_Login\nVersion: 0.6.3\n\nBody: Version 9\n"
APK = "C:Q1x\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nP:busybox\nV:1.36.1-r5\n"


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def test_files_only_in_one_and_changed_by_directory(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"status": STATUS, "METADATA": METADATA, "apk": APK})
    build(store, ctx, f"""{FROM}
RUN head -c 100 /dev/zero > /a && mkdir -p /d/e && head -c 200 /dev/zero > /d/x && head -c 50 /dev/zero > /d/e/y
COPY status /var/lib/dpkg/status
COPY METADATA /usr/lib/python3/dist-packages/Flask_Login-0.6.3.dist-info/METADATA
""", tags=["localhost/cmp:a"])
    build(store, ctx, f"""{FROM}
RUN head -c 150 /dev/zero > /a && head -c 300 /dev/zero > /b
COPY apk /lib/apk/db/installed
""", tags=["localhost/cmp:b"])
    r = api.compare(store, "localhost/cmp:a", "localhost/cmp:b")
    files = r["files"]
    only_a = {g["path"]: (g["count"], g["bytes"]) for g in files["only_a"]["groups"]}
    # each entry under its parent directory cut to two components (busybox has /usr, no
    # /usr/lib, no /var)
    assert only_a == {"/": (2, 0), "/d": (2, 200), "/d/e": (1, 50), "/var": (1, 0), "/var/lib": (2, len(STATUS)),
                      "/usr": (1, 0), "/usr/lib": (4, len(METADATA))}
    assert (files["only_a"]["count"], files["only_a"]["bytes"]) == (13, 250 + len(STATUS) + len(METADATA))
    assert {g["path"]: (g["count"], g["bytes"]) for g in files["only_b"]["groups"]} == \
        {"/": (2, 300), "/lib/apk": (2, len(APK)), "/lib": (1, 0)}
    assert (files["changed"]["count"], files["changed"]["bytes"]) == (1, 150)
    assert files["changed"]["largest"] == [{"path": "/a", "size": 150}]
    assert r["packages"] == {
        "apk": {"only_a": {}, "only_b": {"busybox": "1.36.1-r5", "musl": "1.2.4-r2"}, "changed": {},
                "count_a": 0, "count_b": 2},
        "dpkg": {"only_a": {"libfoo": "3.1~rc1", "tool": "1:2.0-1"}, "only_b": {}, "changed": {},
                 "count_a": 2, "count_b": 0},
        "python": {"only_a": {"flask-login": "0.6.3"}, "only_b": {}, "changed": {}, "count_a": 1, "count_b": 0},
    }
    assert r["a"]["layers"] == 4 and r["b"]["layers"] == 3
    out = distill("compare", "localhost/cmp:a", "localhost/cmp:b", root=store.root).stdout
    assert "files changed: 1 (150B)" in out and "only in A (2): libfoo, tool" in out


def test_dpkg_packages_are_what_dpkg_reports_inside(python_store, busybox_store):
    store = python_store
    copy_image(busybox_store, store, BUSYBOX)
    r = api.compare(store, BUSYBOX, PYTHON_BASE)
    ran = distill("run", "--network", "none", PYTHON_BASE, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
                  root=store.root)
    inside = dict(line.split(" ", 1) for line in ran.stdout.splitlines())
    assert r["packages"]["dpkg"]["only_b"] == inside and len(inside) > 50


def test_compare_stages_says_what_the_build_kept_out(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"status": STATUS})
    build(store, ctx, f"""{FROM} AS builder
COPY status /var/lib/dpkg/status
RUN mkdir /out && head -c 5000 /dev/zero > /out/compiler && head -c 40 /dev/zero > /out/app
{FROM}
COPY --from=builder /out/app /app
""", tags=["localhost/cmp:multi"])
    r = api.compare_stages(store, "localhost/cmp:multi")
    (stage,) = r["stages"]
    assert stage["stage"] == "builder"
    assert stage["packages_kept_out"] == {"dpkg": {"libfoo": "3.1~rc1", "tool": "1:2.0-1"}}
    kept = {g["path"]: g["bytes"] for g in stage["kept_out"]["groups"]}
    assert kept["/out"] == 5040 and kept["/var/lib"] == len(STATUS)
    assert stage["kept_out"]["bytes"] == 5040 + len(STATUS)
    doc = json.loads(distill("compare", "--stages", "--format", "json", "localhost/cmp:multi", root=store.root).stdout)
    assert doc["stages"][0]["kept_out"]["bytes"] == 5040 + len(STATUS)
    r = distill("compare", "localhost/cmp:multi", root=store.root, check=False)
    assert r.returncode != 0 and r.stderr.strip() == "distill: error: compare takes two images, or one with --stages"
    r = distill("compare", "--stages", BUSYBOX, root=store.root, check=False)
    assert r.returncode != 0 and "has no build record" in r.stderr and "Traceback" not in r.stderr
