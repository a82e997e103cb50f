"""harness/protocol/events.py: the one event writer and the one reader."""

from harness.protocol.events import SCHEMA_VERSION, EventLog, missing_fields, read_events, read_jsonl
from harness.protocol.spec import TaskSpec


def test_first_record_carries_the_schema_version_and_a_torn_line_is_reported(tmp_path):
    path = tmp_path / "events.jsonl"
    spec = TaskSpec(run_id="r", experiment="e", config="c", strategy="single", task_id="w", role="worker",
                    host="h", resume_from={"step": 3})
    with EventLog(path, task_id="w") as log:
        log.emit("run_start", resumed_from=spec.resume_from)   # a spec's read-only parts serialise
        log.emit("step", step=1)
    with open(path, "a") as fh:
        fh.write('{"event": "step", "st')
    records, bad = read_jsonl(path)
    assert records[0]["schema_version"] == SCHEMA_VERSION and "schema_version" not in records[1]
    assert records[0]["resumed_from"] == {"step": 3} and records[1]["task_id"] == "w"
    assert bad == [3]
    assert [r["event"] for r in read_events(path)] == ["run_start", "step"]


def test_record_types_name_missing_fields():
    assert missing_fields({"event": "step", "step": 1}, "events") == ["steps", "epoch", "images", "seconds", "loss"]
    assert missing_fields({"event": "unknown"}, "events") == []
