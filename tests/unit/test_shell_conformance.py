"""BuildKit's own word-expansion vectors (envVarTest, wordsTest), every A and U line."""

import pytest

from vectors import buildkit_vectors
from distill.build.dockerfile.shell import Lexer, ShellError

VECTORS = buildkit_vectors()
ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def env_cases():
    for n, line in enumerate((VECTORS / "envVarTest").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        platform, source, expected = (p.strip() for p in line.split("|", 2))
        if platform in ("A", "U"):
            yield pytest.param(source, expected, id=f"envVarTest:{n}")


def words_cases():
    env = {}
    for n, line in enumerate((VECTORS / "wordsTest").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            k, _, v = line[4:].lstrip().partition("=")
            env = {**env, k: v}
            continue
        source, expected = line.split("|", 1)
        yield pytest.param(source.strip(), expected.lstrip(), dict(env), id=f"wordsTest:{n}")


def test_vectors_are_there():
    assert len(list(env_cases())) > 200 and len(list(words_cases())) > 20


@pytest.mark.parametrize("source, expected", list(env_cases()))
def test_env_var_vector(source, expected):
    lx = Lexer("\\")
    if expected == "error":
        with pytest.raises(ShellError):
            lx.process_word(source, ENV)
    else:
        assert lx.process_word(source, ENV) == expected


@pytest.mark.parametrize("source, expected, env", list(words_cases()))
def test_words_vector(source, expected, env):
    lx = Lexer("\\")
    if expected == "error":
        with pytest.raises(ShellError):
            lx.process_words(source, env)
    else:
        assert lx.process_words(source, env) == expected.split(",")
