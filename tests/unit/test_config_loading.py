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
    assert f"expands to more than {MAX_EXPANDED_NODES} values" in msg and "f.yaml:1:1" in msg


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
