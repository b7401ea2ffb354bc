"""Property tests: on any text the front end returns a result or raises a clean
DockerfileError, never another exception."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill.build.dockerfile.parser import parse
from distill.errors import DockerfileError
from distill.build.plan import make_plan
from distill.platform import Platform

AMD64 = Platform("linux", "amd64")
ALPHABET = st.sampled_from(list("FROMRUNCOPYADDENVARGWORKDIR \t\n\\`$'\"{}[]=:-#<>,.!@?*~/0123456789abcAS") +
                           ["\r\n", "<<EOF\n", "EOF\n", "--from=", "${A:-", "\ufeff", "\x00", "é", "\u2028"])


def front_end(data: bytes | str) -> None:
    try:
        result = parse(data)
    except DockerfileError:
        return
    try:
        make_plan(result, {"A": "1"}, target_platform=AMD64, build_platform=AMD64)
    except DockerfileError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    front_end(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=120).map("".join))
def test_dockerfile_shaped_text(text):
    front_end(text)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(list("ab =\t\\`\"'") + ["\u3000", "é"]), max_size=40).map("".join),
       st.sampled_from(["\\", "`"]))
def test_word_splitting_fast_path_matches_the_loop(text, escape):
    from distill.build.dockerfile.parser import _parse_words_loop, parse_words

    assert parse_words(text, escape) == _parse_words_loop(text, escape)
