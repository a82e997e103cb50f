"""harness/protocol/layout.py: the run-directory layout, one function per name."""

from pathlib import Path

import pytest

from harness.protocol import layout


def test_task_dirs_on_both_sides():
    assert layout.task_rel("h1", "one", "worker-0") == "hosts/h1/one/worker-0"
    assert layout.local_task_dir("/runs/r1", "h1", "one", "worker-0") == Path("/runs/r1/hosts/h1/one/worker-0")
    assert layout.remote_task_dir("/w", "r1", "one", "chief") == "/w/runs/r1/one/chief"


def test_a_repeat_gets_its_own_config_directory_and_parses_back():
    assert layout.config_dir("one") == "one"
    assert layout.config_dir("one", 2) == "one@2"
    assert layout.task_rel("h", "one", "w", repeat=3) == "hosts/h/one@3/w"
    assert layout.remote_task_dir("/w", "r", "one", "w", repeat=1) == "/w/runs/r/one@1/w"
    assert layout.parse_config_dir("one@2") == ("one", 2)
    assert layout.parse_config_dir("one") == ("one", None)
    assert layout.parse_config_dir("a.b-c") == ("a.b-c", None)
    assert layout.config_dir("one", 0) == "one@warmup"  # warmup_run: kept, not counted
    assert layout.parse_config_dir("one@warmup") == ("one", 0)
    with pytest.raises(ValueError, match="repeat"):
        layout.config_dir("one", -1)


def test_rank_event_files(tmp_path):
    assert layout.rank_events_file(3) == "events-rank3.jsonl"
    assert layout.rank_of_events_file("events-rank12.jsonl") == 12
    assert layout.rank_of_events_file("events.jsonl") is None
    assert layout.rank_of_events_file("events-rankX.jsonl") is None
    for name in ("events-rank10.jsonl", "events-rank2.jsonl", "events.jsonl", "events-rank1.jsonl.tmp"):
        (tmp_path / name).write_text("")
    assert [k for k, _ in layout.rank_events_files(tmp_path)] == [2, 10]
    assert layout.rank_events_files(tmp_path / "missing") == []


def test_host_cache_directories():
    assert layout.bundle_dir("/w", "abc") == "/w/bundles/abc"
    assert layout.dataset_dir("/w", "d1") == "/w/data/d1"
