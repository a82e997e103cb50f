"""One events/samples JSONL file read through its cache: step records are not kept, only
where their lines lie; asked for as dicts, they are read again from the file, which must be
the file that was loaded."""

import pytest

from harness.report.read import jsonl_files, rundir as load
from tests.support.runfixtures import standard_run


def test_step_records_are_read_again_from_the_file_only_when_asked_for(tmp_path):
    root = standard_run(tmp_path / "run")
    events = next(p for p in root.rglob("events.jsonl") if '"step"' in p.read_text())
    text = events.read_text()
    events.write_bytes(text.replace("\n", "\r\n", 3).encode())  # text mode splits CRs too
    want = load.read_jsonl(events)[0]
    rel = events.relative_to(root).parent
    for _ in ("parsed", "from the cache"):
        task = next(t for t in load.load_run(root).tasks if t.rel_dir == str(rel))
        assert task.steps.source is not None and task.steps._data is None  # nothing kept yet
        assert task.of("step") == [r for r in want if r.get("event") == "step"]
    task = next(t for t in load.load_run(root).tasks if t.rel_dir == str(rel))
    events.write_bytes(events.read_bytes() + b'{"event": "step"}\n')
    with pytest.raises(jsonl_files.SourceChanged, match="changed while the report was being built"):
        task.of("step")
