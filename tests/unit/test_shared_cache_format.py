"""The shared cache's flags and document: what --cache-to/--cache-from accept, and that a
document from a stranger decodes to exactly what was encoded or is refused cleanly."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distill.build.cache.shared import decode, encode
from distill.build.cache.spec import CacheSpec, parse_cache
from distill.errors import DistillError, VerificationError

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "a" * 64, "size": 10}


@pytest.mark.parametrize("text,flag,spec", [
    ("type=registry,ref=r.example/c:x,mode=max", "--cache-to", CacheSpec("registry", ref="r.example/c:x", mode="max")),
    ("type=registry,ref=r.example/c:x", "--cache-to", CacheSpec("registry", ref="r.example/c:x", mode="min")),
    ("type=local,dest=/tmp/c", "--cache-to", CacheSpec("local", path="/tmp/c")),
    ("type=inline", "--cache-to", CacheSpec("inline")),
    ("r.example/c:x", "--cache-from", CacheSpec("registry", ref="r.example/c:x")),
    ("type=local,src=/tmp/c", "--cache-from", CacheSpec("local", path="/tmp/c")),
    ("ref=r.example/c:x", "--cache-from", CacheSpec("registry", ref="r.example/c:x")),
])
def test_specs_as_buildkit_spells_them(text, flag, spec):
    assert parse_cache(text, flag) == spec


@pytest.mark.parametrize("text,flag,says", [
    ("type=registry", "--cache-to", "needs ref=REF"),
    ("type=local,src=/x", "--cache-to", "needs dest=DIR"),
    ("type=local,dest=/x", "--cache-from", "needs src=DIR"),
    ("type=inline", "--cache-from", "type must be one of registry, local"),
    ("type=s3,ref=x", "--cache-to", "type must be one of"),
    ("type=registry,ref=x,mode=all", "--cache-to", "mode must be min or max"),
    ("type=registry,ref=x,colour=red", "--cache-to", "unknown key 'colour'"),
    ("r.example/c:x", "--cache-to", "expected type=registry,ref=REF"),
    ("type=registry,ref", "--cache-from", "key=value"),
])
def test_bad_specs_say_what_is_wrong(text, flag, says):
    with pytest.raises(DistillError, match=says.replace("(", r"\(")):
        parse_cache(text, flag)


def test_a_document_decodes_to_the_records_it_was_made_of():
    steps = {"a" * 64: {"layer": LAYER, "diff_id": D1, "created": "2026-01-01T00:00:00Z",
                        "copies": {"from": {"stage": 0}, "paths": [], "truncated": False}},
             "b" * 64: {"layer": None, "diff_id": None, "created": "2026-01-02T00:00:00Z"},
             "c" * 64: {"layer": dict(LAYER, digest="sha256:" + "c" * 64), "diff_id": D2, "created": "x"}}
    doc = encode(steps, {"d" * 64: "sha256:" + "e" * 64}, [D1])  # D2's layer is not shipped: named only
    records, memos = decode(doc, [LAYER])
    assert records == dict(steps, **{"c" * 64: dict(steps["c" * 64], shipped=False)})
    assert memos == {"d" * 64: "sha256:" + "e" * 64}
    inline = encode(steps, {}, [D1], inline=True)
    assert "layers" not in inline and decode(inline, [LAYER], [D1])[0] == records


@pytest.mark.parametrize("doc", [
    None, [], {"version": 2, "steps": {}, "layers": []},
    {"version": 1, "steps": {}, "layers": [D1]},                       # a layer the manifest lacks
    {"version": 1, "steps": {"x": {"layer": None, "created": "t"}}, "layers": []},
    {"version": 1, "steps": {"a" * 64: {"layer": 0, "created": "t"}}, "layers": []},
    {"version": 1, "steps": {"a" * 64: {"layer": True, "created": "t"}}, "layers": [D1]},
    {"version": 1, "steps": {"a" * 64: {"layer": None, "created": 5}}, "layers": []},
    {"version": 1, "steps": {"a" * 64: {"layer": None, "created": "t", "copies": []}}, "layers": []},
    {"version": 1, "steps": {"a" * 64: {"layer": None, "created": "t", "copies": {
        "from": {"stage": 0}, "paths": "abc", "truncated": False}}}, "layers": []},
    {"version": 1, "steps": {"a" * 64: {"layer": None, "created": "t", "copies": {
        "from": {"stage": "0"}, "paths": [], "truncated": False}}}, "layers": []},
    {"version": 1, "steps": {}, "memos": {"a" * 64: 5}, "layers": []},
    {"version": 1, "steps": {}, "layers": ["sha256:../../etc"]},
    {"version": 1, "steps": {"a" * 64: {"layer": {"descriptor": LAYER, "diff_id": "x"}, "created": "t"}}, "layers": []},
    {"version": 1, "steps": {"a" * 64: {"layer": {"descriptor": {"digest": "sha256:1"}, "diff_id": D1},
                                        "created": "t"}}, "layers": []},
])
def test_malformed_documents_are_refused(doc):
    layers = [LAYER] if isinstance(doc, dict) and doc.get("steps") and doc.get("layers") == [D1] else []
    with pytest.raises(VerificationError):
        decode(doc, layers)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=70),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=70), inner,
                                                                                        max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_decodes_or_is_refused_cleanly(doc):
    try:
        records, memos = decode(doc, [LAYER])
    except VerificationError:
        return
    assert all(r["layer"] in (None, LAYER) or r.get("shipped") is False for r in records.values())
