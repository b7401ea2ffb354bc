"""json_copy: what a stage's config is cloned with, so one stage's change never leaks
into the image or the stage it came from."""

from hypothesis import given
from hypothesis import strategies as st

from distill.config import json_copy

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=20)


def _containers(value):
    if isinstance(value, (dict, list)):
        yield value
        for v in value.values() if isinstance(value, dict) else value:
            yield from _containers(v)


@given(documents)
def test_equal_and_sharing_no_container(doc):
    copied = json_copy(doc)
    assert copied == doc
    originals = {id(c) for c in _containers(doc)}
    assert not originals & {id(c) for c in _containers(copied)}


def test_a_change_to_the_copy_leaves_the_original():
    config = {"Env": ["PATH=/bin"], "Labels": {"a": "1"}, "ExposedPorts": {"80/tcp": {}}}
    copied = json_copy(config)
    copied["Env"].append("X=1")
    copied["Labels"]["b"] = "2"
    copied["ExposedPorts"]["80/tcp"]["x"] = 1
    assert config == {"Env": ["PATH=/bin"], "Labels": {"a": "1"}, "ExposedPorts": {"80/tcp": {}}}
