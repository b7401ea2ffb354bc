import pytest

from distill import digest
from distill.image.oci import reference
from distill.errors import InvalidDigest, InvalidReference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, full",
    [
        ("python", "docker.io/library/python:latest"),
        ("python:3.11-slim", "docker.io/library/python:3.11-slim"),
        ("user/app", "docker.io/user/app:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
        ("127.0.0.1:5000/a", "127.0.0.1:5000/a:latest"),
        ("ghcr.io/o/r/deep/path:v1.2", "ghcr.io/o/r/deep/path:v1.2"),
        (f"python@{D}", f"docker.io/library/python@{D}"),
        (f"python:3@{D}", f"docker.io/library/python:3@{D}"),
        ("a__b/c--d:T_a.g-1", "docker.io/a__b/c--d:T_a.g-1"),
        ("[::1]:5000/x", "[::1]:5000/x:latest"),
    ],
)
def test_normalise(text, full):
    assert str(reference.parse(text)) == full


def test_parts_and_familiar():
    r = reference.parse("localhost:5000/team/app:v2")
    assert (r.domain, r.path, r.tag, r.digest) == ("localhost:5000", "team/app", "v2", None)
    assert reference.parse("python").familiar == "python:latest"
    assert reference.parse("docker.io/user/x:1").familiar == "user/x:1"
    assert reference.parse(f"python@{D}").object == D
    assert reference.parse("python:3").object == "3"


@pytest.mark.parametrize(
    "text",
    ["", " python", "Python", "a/B", "python:", ":tag", "a//b", "a/-b", "python@sha256:abc",
     "python@md5:" + "a" * 32, f"python@sha256:{'A' * 64}", "py thon", "a:" + "t" * 129,
     "x/" + "a" * 300, "../etc", "a/../b"],
)
def test_invalid(text):
    with pytest.raises(InvalidReference):
        reference.parse(text)


def test_uppercase_repo_says_lowercase():
    with pytest.raises(InvalidReference, match="lowercase"):
        reference.parse("docker.io/User/app")


@pytest.mark.parametrize(
    "bad",
    ["sha256:" + "a" * 63, "sha256:" + "a" * 65, "sha256:" + "A" * 64, "sha256:../../etc/passwd",
     "sha512:" + "a" * 64, "md5:" + "a" * 32, "sha256:" + "a" * 63 + "/", "", "sha256", None,
     "sha256:" + "a" * 64 + "\n", "sha256:" + "a" * 63 + "\n", "sha256:sha256:" + "a" * 57, "SHA256:" + "a" * 64, 64],
)
def test_digest_validation(bad):
    with pytest.raises(InvalidDigest):
        digest.validate(bad)


def test_digest_helpers():
    assert digest.validate(D) == D
    assert digest.validate("sha512:" + "0" * 128)
    assert digest.of_bytes(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert digest.short_id(D) == "a" * 12
