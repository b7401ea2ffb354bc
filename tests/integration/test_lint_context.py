"""What distill lint looks at in the build context (a real directory)."""


def test_the_context_is_looked_at_for_what_a_dockerignore_should_keep_out(tmp_path):
    from distill.lint import context_facts

    (tmp_path / ".git").mkdir()
    (tmp_path / "big.bin").write_bytes(b"\0" * (51 << 20))
    facts = context_facts(str(tmp_path))
    assert facts == {"dockerignore": False, "unwanted": [".git"], "biggest": ("big.bin", 51 << 20)}
    (tmp_path / ".dockerignore").write_text(".git\n")
    assert context_facts(str(tmp_path))["dockerignore"] is True
