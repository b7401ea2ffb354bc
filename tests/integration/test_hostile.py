"""Every analyser command and `load`, on each image of a hostile corpus made here
(bed/hostile.py): read in place and loaded into a store. None may end in a traceback,
run past 60 s, take more than 1 GiB, exit other than 0-2 or say more than one line of
300 characters; nothing is written outside the store and the `-o` target (but for the
machine-wide owner locks of fs/owner.py, hostile_run.OWNER_LOCKS)."""

import os
from pathlib import Path

import pytest

from bed.hostile import ESCAPE, cases, write_corpus
from bed.hostile_run import run_corpus

TIME_LIMIT = 60.0
RSS_LIMIT = 1 << 30
# the images that try to write outside their place: each command of theirs runs under strace
TRACED = {"archive-traversing-member", "archive-symlinked-layer", "docker-symlinked-layer", "names-traversal",
          "names-absolute", "names-through-symlink", "names-hostile", "whiteouts-odd", "hardlinks-odd",
          "duplicates-changing-type", "symlink-loop-cmd", "symlink-exponential"}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    archives = write_corpus(work / "corpus")
    return work, run_corpus(archives, work / "store", work / "runs", TIME_LIMIT, traced_cases=TRACED)


def test_the_corpus_covers_every_class():
    names = set(cases())
    for prefix in ("config-", "archive-", "docker-", "tree-", "names-", "whiteouts-", "hardlinks-", "tar-", "bomb-",
                   "symlink-", "elf-", "shebang-", "python-", "dpkg-", "apk-", "rpm-", "node-", "jars-", "layers-"):
        assert any(n.startswith(prefix) for n in names), prefix


def test_no_command_crashes_hangs_or_swells(outcomes):
    _, results = outcomes
    problems = [p for o in results.values() for p in o.problems(TIME_LIMIT, RSS_LIMIT)]
    assert problems == [], "\n".join(problems)
    ran = sum(len(o.runs) for o in results.values())
    assert ran >= len(results) * 12  # load, and the commands on the archive read in place at least


def test_nothing_is_written_outside_the_store_and_the_output(outcomes):
    """Traced (strace, the TRACED images), and for every image: what is left beside the
    outputs, and no escape name anywhere near."""
    work, results = outcomes
    assert TRACED <= set(results)
    traced_runs = [r for case in TRACED for r in results[case].runs]
    assert len(traced_runs) >= len(TRACED) * 12 and not any(r.outside for r in traced_runs)
    for case in results:
        left = {p.name for p in (work / "runs" / case).iterdir()}
        assert left <= {"export.tar", "report.html"}, (case, left)
    for place in (Path("/tmp"), work, work / "runs", Path.cwd()):
        assert not (place / ESCAPE).exists(), place
    assert not any(ESCAPE in name for _, _, names in os.walk(work / "runs") for name in names)
