"""Property test on BuildKit's own Dockerfiles, mutated: the front end returns a result or
raises a clean DockerfileError, never another exception."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_parser_properties import front_end
from vectors import buildkit_vectors

REAL = [p.read_bytes() for p in sorted((buildkit_vectors() / "testfiles").glob("*/Dockerfile"))]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL), st.data())
def test_mutated_real_dockerfiles(original, data):
    buf = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        at = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        chunk = data.draw(st.binary(min_size=1, max_size=6) | st.sampled_from(
            [b"\\\n", b"\n", b"${", b"[\"", b"--mount=", b"<<EOF\n", b" AS ", b"FROM ", b"'", b'"']))
        if op == "insert":
            buf[at:at] = chunk
        elif op == "delete":
            del buf[at : at + len(chunk)]
        else:
            buf[at : at + len(chunk)] = chunk
    front_end(bytes(buf))
