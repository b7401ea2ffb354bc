"""Parser behaviour beyond BuildKit's vectors: directives, heredocs, CRLF, BOM, limits."""

import pytest

from distill.build.dockerfile.parser import parse
from distill.errors import DockerfileError


def dump(text):
    return parse(text).dump()


def test_escape_directive_backtick():
    r = parse("# escape=`\nFROM x\nRUN a `\n  b\nCOPY c:\\path\\ d\n")
    assert r.escape == "`" and r.directives == {"escape": "`"}
    assert r.dump() == '(from "x")\n(run "a   b")\n(copy "c:\\\\path\\\\" "d")\n'


def test_directives_only_at_the_top():
    r = parse("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert r.escape == "\\" and r.directives == {}
    r = parse("# a comment\n# escape=`\nFROM x\n")
    assert r.escape == "\\"


def test_syntax_and_check_directives_recorded():
    r = parse("# syntax=docker/dockerfile:1\n# check=skip=JSONArgsRecommended\nFROM x\n")
    assert r.directives == {"syntax": "docker/dockerfile:1", "check": "skip=JSONArgsRecommended"}


def test_repeated_directive_is_an_error():
    with pytest.raises(DockerfileError, match="only one escape parser directive"):
        parse("# escape=`\n# escape=\\\nFROM x\n")


def test_invalid_escape_token():
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM x\n")


def test_crlf_and_bom():
    assert dump("\ufeffFROM x\r\nRUN a \\\r\n b\r\n") == '(from "x")\n(run "a  b")\n'
    assert dump(b"\xef\xbb\xbfFROM x\n") == '(from "x")\n'


def test_case_insensitive_instructions():
    assert dump("from x AS Build\nrun echo\n") == '(from "x" "AS" "Build")\n(run "echo")\n'


def test_comments_inside_continuation():
    assert dump("FROM x\nRUN a \\\n# inner comment\n  b\n") == '(from "x")\n(run "a   b")\n'


def test_empty_continuation_line_warns():
    r = parse("FROM x\nRUN a \\\n\n b\n")
    assert r.dump() == '(from "x")\n(run "a  b")\n'
    assert r.warnings and "empty continuation line" in r.warnings[0]


def test_heredocs_several_on_a_line_quoted_and_chomped():
    r = parse('FROM x\nRUN <<A cat && <<-"B" cat\nline $X\nA\n\tb\n\tB\nRUN echo done\n')
    run = r.nodes[1]
    assert [(h.name, h.content, h.expand, h.chomp) for h in run.heredocs] == [
        ("A", "line $X\n", True, False), ("B", "\tb\n", False, True)]
    assert (run.start_line, run.end_line) == (2, 6)
    assert r.nodes[2].start_line == 7


def test_heredoc_in_copy_and_onbuild():
    r = parse("FROM x\nCOPY <<EOF /etc/conf\nk=v\nEOF\nONBUILD RUN <<'E'\necho $HOME\nE\n")
    assert r.nodes[1].heredocs[0].content == "k=v\n"
    inner = r.nodes[2].child
    assert inner.heredocs[0].name == "E" and inner.heredocs[0].expand is False


def test_heredoc_not_in_exec_form_or_other_instructions():
    r = parse('FROM x\nRUN ["<<EOF"]\nENV A=<<EOF\n')
    assert all(not n.heredocs for n in r.nodes)


def test_unterminated_heredoc():
    with pytest.raises(DockerfileError, match="unterminated heredoc") as e:
        parse("FROM x\nRUN <<EOF\nno end\n")
    assert e.value.line == 2


def test_invalid_json_falls_back_to_shell_form():
    assert dump('FROM x\nCMD ["a", \'b\']\n') == '(from "x")\n(cmd "[\\"a\\", \'b\']")\n'


def test_json_with_non_strings_is_an_error():
    with pytest.raises(DockerfileError, match="must be comprised of strings") as e:
        parse('FROM x\n\nCMD ["a", 1]\n')
    assert e.value.line == 3


def test_line_length_limit():
    parse("FROM x\nRUN " + "a" * 65000 + "\n")
    with pytest.raises(DockerfileError, match="max allowed size of 65535") as e:
        parse("FROM x\nRUN " + "a" * 70000 + "\n")
    assert e.value.line == 2


def test_no_instructions():
    for text in ("", "\n\n", "# only\n# comments\n"):
        with pytest.raises(DockerfileError, match="no instructions"):
            parse(text)


def test_error_names_path_and_line():
    with pytest.raises(DockerfileError) as e:
        parse("FROM x\nENV a\n", path="app/Dockerfile")
    assert str(e.value).startswith("app/Dockerfile:2: ")


def test_env_and_label_forms():
    assert dump('FROM x\nENV a=1 b="2 3"\nLABEL k v w\n') == (
        '(from "x")\n(env "a" "1" "=" "b" "\\"2 3\\"" "=")\n(label "k" "v w" "")\n')
    with pytest.raises(DockerfileError, match="can't find ="):
        parse("FROM x\nENV a=1 b\n")


def test_pattern_removal_and_replacement_forms():
    from distill.build.dockerfile.shell import Lexer

    env = {"F": "archive.tar.gz", "P": "/usr/local/bin", "S": "a-b-c"}
    lx = Lexer()
    cases = {
        "${F#*.}": "tar.gz", "${F##*.}": "gz", "${F%.*}": "archive.tar", "${F%%.*}": "archive",
        "${P#/usr}": "/local/bin", "${S/-/_}": "a_b-c", "${S//-/_}": "a_b_c", "${S/x/y}": "a-b-c",
        "${UNSET-def}": "def", "${F-def}": "archive.tar.gz", "${UNSET+alt}": "", "${F+alt}": "alt",
        "${F#[a-c]r}": "chive.tar.gz",
    }
    for src, want in cases.items():
        assert lx.process_word(src, env) == want, src
