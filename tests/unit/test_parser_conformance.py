"""BuildKit's own parser vectors: dumps byte for byte, negative cases fail, line spans."""

import pytest

from vectors import buildkit_vectors
from distill.build.dockerfile.parser import parse
from distill.errors import DockerfileError

VECTORS = buildkit_vectors()
POSITIVE = sorted(p.name for p in (VECTORS / "testfiles").iterdir())
NEGATIVE = sorted(p.name for p in (VECTORS / "testfiles-negative").iterdir())


def test_vectors_are_there():
    assert len(POSITIVE) >= 30 and len(NEGATIVE) >= 4


@pytest.mark.parametrize("case", POSITIVE)
def test_dump_matches(case):
    d = VECTORS / "testfiles" / case
    result = parse((d / "Dockerfile").read_bytes())
    assert result.dump() == (d / "result").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", NEGATIVE)
def test_negative_fails(case):
    with pytest.raises(DockerfileError):
        parse((VECTORS / "testfiles-negative" / case / "Dockerfile").read_bytes())


def test_line_spans():
    nodes = parse((VECTORS / "testfile-line" / "Dockerfile").read_bytes()).nodes
    assert [(n.start_line, n.end_line) for n in nodes] == [(5, 5), (11, 12), (17, 31)]
