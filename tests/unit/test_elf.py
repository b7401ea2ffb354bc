"""The ELF reader on bytes from strangers: any input gives facts or None, never an
exception, and nothing it reports lies outside the bytes given."""

from hypothesis import given, settings
from hypothesis import strategies as st

from distill.analyze.check.elf import ld_so_cache, parse

HEADERS = st.sampled_from([b"\x7fELF\x02\x01\x01", b"\x7fELF\x01\x01\x01", b"\x7fELF\x02\x02\x01", b"\x7fELF"])


@settings(max_examples=500, deadline=None)
@given(HEADERS, st.binary(max_size=600))
def test_any_bytes_give_facts_or_none(head, rest):
    facts = parse(head + rest)
    assert facts is None or (isinstance(facts["needed"], list) and facts["class"] in (32, 64))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_cache_gives_a_mapping(data):
    assert isinstance(ld_so_cache(b"glibc-ld.so.cache1.1" + data), dict)


def test_not_elf_is_none():
    assert parse(b"#!/bin/sh\n" + b"\0" * 100) is None


def test_the_newest_glibc_version_a_libc_defines():
    from distill.analyze.check.elf import newest_glibc

    assert newest_glibc(["GLIBC_2.2.5", "GLIBC_2.36", "GLIBC_2.4", "GLIBC_PRIVATE", "libc.so.6"]) == (
        "GLIBC_2.36", (2, 36))
    assert newest_glibc(["GLIBC_PRIVATE"]) is None
