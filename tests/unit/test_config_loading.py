"""harness/config/loading.py: what YAML reading refuses, and how values are cut in messages."""

import pytest

from harness.config.loading import MAX_EXPANDED_NODES, clip, read_yaml
from harness.errors import ConfigError


def load(tmp_path, text):
    p = tmp_path / "f.yaml"
    p.write_text(text)
    return read_yaml(p)


def error(tmp_path, text) -> str:
    with pytest.raises(ConfigError) as ei:
        load(tmp_path, text)
    assert len(ei.value.lines()) == 1
    return ei.value.lines()[0]


def test_duplicate_keys_are_refused_with_line_and_column(tmp_path):
    assert error(tmp_path, "a: 1\nb:\n  c: 1\n  c: 2\n").endswith(
        "f.yaml:4:3: duplicate key 'c' (first at line 3); YAML would silently keep only the last, remove one")
    assert "duplicate key 'x'" in error(tmp_path, "m: {x: 1, y: 2, x: 3}\n")


def test_a_key_overriding_a_merged_one_is_not_a_duplicate(tmp_path):
    data = load(tmp_path, "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")
    assert data["c"] == {"x": 3, "y": 2}


def test_aliases_are_fine_until_they_expand_too_far(tmp_path):
    assert load(tmp_path, "a: &a [1, 2]\nb: [*a, *a]\n") == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    msg = error(tmp_path, "\n".join(lines) + "\n")
    # &l4 (line 5) is the first level past the limit: 1 + 10 * 11 111 values; *l4 repeats it in l5
    assert msg.endswith(f"f.yaml:5:5: anchor &l4 expands to more than {MAX_EXPANDED_NODES} values once its aliases "
                        "(*name) are expanded, and *l4 repeats it 10 times; write the values out or use fewer nested aliases")


def test_many_aliases_of_a_small_anchor_name_that_anchor(tmp_path):
    small = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [1, 2]\n"
    msg = error(tmp_path, small + "c: [*b, " + ", ".join(["*a"] * 10_000) + "]\n")
    assert msg.endswith("f.yaml:1:4: the YAML expands to more than 100000 values once its aliases (*name) are "
                        "expanded, 110000 of them from the 10000 aliases of anchor &a; write the values out or use fewer aliases")
    # an anchor too large itself but never aliased is not the one to blame: its aliases inside are
    msg = error(tmp_path, "big: &big [&s [x, x, x, x, x, x, x, x, x, x], " + ", ".join(["*s"] * 20_000) + "]\n")
    assert "f.yaml:1:12:" in msg and "from the 20000 aliases of anchor &s" in msg


def test_many_plain_values_are_refused_without_blaming_an_alias(tmp_path):
    msg = error(tmp_path, "a: [" + ", ".join(["1"] * (MAX_EXPANDED_NODES + 1)) + "]\n")
    assert msg.endswith(f"f.yaml:1:1: more than {MAX_EXPANDED_NODES} values, more than a configuration can be")


def raw_error(tmp_path, data: bytes) -> str:
    p = tmp_path / "f.yaml"
    p.write_bytes(data)
    with pytest.raises(ConfigError) as ei:
        read_yaml(p)
    assert len(ei.value.lines()) == 1
    return ei.value.lines()[0]


def test_text_that_is_not_utf8_names_line_column_and_byte(tmp_path):
    # A Latin-1 "é" (0xe9) on line 2 after "b: café " in UTF-8: its "é" is one character (the
    # column counts 8 before the bad byte) but two bytes (the offset counts 5 + 9)
    msg = raw_error(tmp_path, b"a: 1\nb: caf\xc3\xa9 \xe9 x\n")
    assert msg == f"{tmp_path / 'f.yaml'}:2:9: not UTF-8 text: byte 0xe9 at offset 14 (invalid continuation byte); save it as UTF-8"
    msg = raw_error(tmp_path, b"a: '\xe2\x82'\n")  # a euro sign cut short
    assert ":1:5: not UTF-8 text: bytes 0xe2 0x82 at offset 4 (invalid continuation byte)" in msg
    msg = raw_error(tmp_path, "name: t\n".encode("utf-16"))
    assert ":1:1: not UTF-8 text: byte 0xff at offset 0" in msg and "the file is UTF-16" in msg


def test_deep_nesting_and_large_files_are_refused(tmp_path):
    assert "levels deep" in error(tmp_path, "a: " + "[" * 200 + "]" * 200 + "\n")
    assert "more than a configuration file can be" in error(tmp_path, "a: 1\n" + "#" * (2 << 20) + "\n")


def test_syntax_errors_keep_their_position(tmp_path):
    assert ":2:1: YAML syntax error" in error(tmp_path, "a: [1\n")


def test_clip_cuts_at_a_word_and_says_how_long():
    assert clip("short") == "'short'"
    cut = clip("word " * 100)
    assert cut.endswith("… (502 characters)") and "wor…" not in cut and len(cut) < 90
    assert clip("x" * 1000).startswith("'xxx") and "(1002 characters)" in clip("x" * 1000)
