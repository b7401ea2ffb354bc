"""digest.Sha256: hashlib's SHA-256, whichever implementation hashes the data."""

import array
import hashlib
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from distill import digest

SMALL = 64 << 10


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=SMALL + 300), max_size=6), st.integers(min_value=0, max_value=255))
def test_equals_hashlib_for_any_chunking(sizes, fill):
    chunks = [bytes([fill ^ i & 255]) * n for i, n in enumerate(sizes)]
    h = digest.Sha256(chunks[0] if chunks else b"")
    for c in chunks[1:]:
        h.update(c)
    want = hashlib.sha256(b"".join(chunks))
    assert (h.name, h.hexdigest(), h.digest()) == (want.name, want.hexdigest(), want.digest())


def test_at_the_threshold_and_with_buffers():
    for n in (SMALL - 1, SMALL, SMALL + 1):
        assert digest.Sha256(b"a" * n).hexdigest() == hashlib.sha256(b"a" * n).hexdigest()
    numbers = array.array("q", range(20_000))  # nbytes, not len, decides the side
    h = digest.Sha256(b"head")
    h.update(numbers)
    assert h.hexdigest() == hashlib.sha256(b"head" + numbers.tobytes()).hexdigest()
    assert digest.of_bytes(b"x") == "sha256:" + hashlib.sha256(b"x").hexdigest()
    assert digest.of_bytes(b"x", "sha512") == "sha512:" + hashlib.sha512(b"x").hexdigest()


def test_small_data_does_not_load_openssl():
    probe = ("import sys; from distill import digest; h = digest.Sha256(b'k' * 1000); h.update(b'v'); "
             "h.hexdigest(); small = '_hashlib' in sys.modules; digest.Sha256(b'b' * (1 << 20)).hexdigest(); "
             "print(small, '_hashlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
