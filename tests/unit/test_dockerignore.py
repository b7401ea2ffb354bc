import pytest

from distill.build.context.ignore import Matcher


@pytest.mark.parametrize("patterns, path, ignored", [
    ("*.pyc", "a.pyc", True),
    ("*.pyc", "sub/a.pyc", False),          # anchored at the root, * stays in one component
    ("**/*.pyc", "sub/deep/a.pyc", True),
    ("**/*.pyc", "a.pyc", True),
    ("/build", "build/x/y", True),          # a leading / changes nothing; dirs cover children
    ("build", "src/build", False),
    ("node_modules", "node_modules", True),
    ("docs/**", "docs/a/b.md", True),
    ("te?t", "test", True),
    ("te?t", "te/t", False),
    ("*\n!keep.txt", "keep.txt", False),
    ("*\n!keep.txt", "other.txt", True),
    ("!keep.txt\n*", "keep.txt", True),     # the last matching pattern decides
    ("secret/\n!secret/public", "secret/public", False),
    ("secret/\n!secret/public", "secret/private", True),
    ("# comment\n  \n*.log  ", "x.log", True),
    ("a/./b/../c", "a/c", True),            # patterns are cleaned
    ("[a-c].txt", "b.txt", True),
    ("[a-c].txt", "d.txt", False),
    ("a.b", "axb", False),                  # . is literal
    ("**", "anything/at/all", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("\\*", "*", True),
])
def test_matching(patterns, path, ignored):
    assert Matcher.from_text(patterns).ignored(path) is ignored


def test_reinclusion_hint():
    m = Matcher.from_text("secret\n!secret/keep")
    assert m.may_reinclude_under("secret") and not m.may_reinclude_under("other")
    assert not Matcher.from_text("secret").may_reinclude_under("secret")
