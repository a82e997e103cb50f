"""harness/protocol/spec.py: the typed, versioned, immutable task spec."""

import json

import pytest

from harness.protocol.spec import SPEC_VERSION, SpecError, TaskSpec

BASE = dict(run_id="r1", experiment="e", config="one", strategy="single", task_id="worker-0", role="worker",
            host="h1", rank=0, size=1, workload={"batch_size": 8, "dataset": {"name": "digits"}},
            threads={"intra_op": 1}, ports=[30000])


def test_round_trips_through_json_unchanged():
    spec = TaskSpec(**BASE)
    data = json.loads(spec.to_json())
    assert data["spec_version"] == SPEC_VERSION and "resume_from" not in data   # nulls left out
    assert TaskSpec.from_dict(data) == spec
    assert TaskSpec.from_dict(data).to_dict() == data


def test_is_immutable_and_reads_are_copies():
    spec = TaskSpec(**BASE)
    with pytest.raises(AttributeError):
        spec.role = "ps"
    with pytest.raises(TypeError):
        spec.workload["batch_size"] = 9
    got = spec["workload"]
    got["batch_size"] = 9
    assert spec["workload"]["batch_size"] == 8
    assert spec.get("resume_from") is None and "resume_from" not in spec and "workload" in spec
    assert spec["ports"] == [30000]
    bound = spec.replace(imds_url="http://x", resume_from={"step": 4})
    assert bound.imds_url == "http://x" and bound["resume_from"] == {"step": 4} and spec.imds_url is None


@pytest.mark.parametrize("change, message", [
    ({"rank": "0"}, "rank must be an integer"),
    ({"task_id": ""}, "task_id must be a non-empty string"),
    ({"threads": [1]}, "threads must be a mapping"),
    ({"ports": ["80"]}, "ports must be integers"),
])
def test_bad_fields_are_named(change, message):
    with pytest.raises(SpecError, match=message):
        TaskSpec(**{**BASE, **change})


def test_reader_refuses_other_versions_unknown_and_missing_fields(tmp_path):
    data = TaskSpec(**BASE).to_dict()
    with pytest.raises(SpecError, match="version 99"):
        TaskSpec.from_dict({**data, "spec_version": 99})
    with pytest.raises(SpecError, match="unknown field"):
        TaskSpec.from_dict({**data, "surprise": 1})
    with pytest.raises(SpecError, match="no spec_version"):
        TaskSpec.from_dict({k: v for k, v in data.items() if k != "spec_version"})
    with pytest.raises(SpecError, match="missing field.*host"):
        TaskSpec.from_dict({k: v for k, v in data.items() if k != "host"})
    (tmp_path / "task.json").write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        TaskSpec.read(tmp_path / "task.json")
