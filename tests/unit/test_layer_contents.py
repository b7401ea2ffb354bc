"""What a layer does to a path, told from its table of contents and content digests
(image/layers/contents.py): the answer that keys COPY --from without unpacking."""

import hashlib
import io

import pytest

from distill.image.layers.contents import hash_rows, path_digest
from distill.image.layers.tarstream import TarReader
from distill.image.layers.toc import rows_of
from tartools import build, entry


def answer(*entries, path="venv", seekable=False):
    data = build(*entries)
    rows = rows_of(TarReader(io.BytesIO(data)))
    contents = hash_rows(io.BytesIO(data), rows, seekable=seekable)
    return path_digest(rows, contents, path)


VENV = (entry("venv", "dir"), entry("venv/bin", "dir"), entry("venv/bin/flask", data=b"#!/venv/bin/python\n"),
        entry("venv/lib/site.py", data=b"x = 1\n"))


def test_a_layer_that_leaves_the_path_alone_answers_nothing():
    assert answer(entry("app", "dir"), entry("app/app.py", data=b"print(1)\n")) == ""
    assert answer(entry("venv2/x", data=b"1")) == ""  # a name that only begins like it


def test_the_same_entries_give_the_same_answer_whatever_else_the_layer_holds():
    alone = answer(*VENV)
    assert alone.startswith("sha256:")
    assert answer(*VENV, entry("app/app.py", data=b"edited\n")) == alone
    assert answer(*reversed(VENV)) == alone  # tar order does not matter


@pytest.mark.parametrize("change", [
    lambda e: e if e[0].name != "venv/lib/site.py" else entry("venv/lib/site.py", data=b"x = 2\n"),
    lambda e: e if e[0].name != "venv/lib/site.py" else entry("venv/lib/site.py", data=b"x = 1\n", mode=0o755),
    lambda e: e if e[0].name != "venv/lib/site.py" else entry("venv/lib/site.py", data=b"x = 1\n", uid=1000),
    lambda e: e if e[0].name != "venv/bin" else entry("venv/bin", "dir", mode=0o700),
])
def test_any_change_of_content_mode_or_owner_changes_the_answer(change):
    assert answer(*map(change, VENV)) != answer(*VENV)


def test_whiteouts_and_opaque_directories_that_reach_the_path_count():
    assert answer(entry(".wh.venv", data=b"")) not in ("", None)
    assert answer(entry("venv/.wh.old.py", data=b"")) not in ("", None)
    assert answer(entry("opt/.wh..wh..opq", data=b""), path="opt/venv") not in ("", None)
    assert answer(entry(".wh.venv2", data=b"")) == ""


def test_a_directory_above_is_no_change_but_a_file_or_symlink_there_is():
    assert answer(entry("opt", "dir"), path="opt/venv") == ""
    assert answer(entry("opt", data=b"a file now"), path="opt/venv") not in ("", None)
    assert answer(entry("opt", "symlink", linkname="srv"), path="opt/venv") is None
    assert answer(entry("venv", "symlink", linkname="opt/venv")) is None


def test_a_hard_link_takes_its_targets_content_and_one_to_another_layer_cannot_be_told():
    inside = answer(entry("usr/bin/python3", data=b"ELF..."), entry("venv/bin/python", "hardlink",
                                                                   linkname="usr/bin/python3"))
    other = answer(entry("usr/bin/python3", data=b"ELF!!!"), entry("venv/bin/python", "hardlink",
                                                                   linkname="usr/bin/python3"))
    assert inside not in ("", None) and other not in ("", None) and inside != other
    assert answer(entry("venv/bin/python", "hardlink", linkname="usr/bin/python3")) is None


def test_content_digests_are_the_files_sha256_read_in_one_pass_or_by_seeking():
    data = build(entry("a", data=b"one"), entry("d", "dir"), entry("d/b", data=b"two" * 100_000), entry("e"))
    rows = rows_of(TarReader(io.BytesIO(data)))
    for seekable in (False, True):
        found = hash_rows(io.BytesIO(data), rows, seekable=seekable)
        assert found == [hashlib.sha256(b"one").digest(), None, hashlib.sha256(b"two" * 100_000).digest(),
                         hashlib.sha256(b"").digest()]


def test_the_root_path_is_touched_by_everything():
    assert answer(entry("etc/hosts", data=b"x"), path="") not in ("", None)
