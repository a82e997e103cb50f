"""The report's Connections section, from control.jsonl's host_unreachable / host_reconnected."""

from harness.report.read.rundir import load_run
from harness.report.write.blocks import Heading, Table
from harness.report.write.connection_sections import connection_blocks, outages
from harness.report.write.render import write_report
from tests.support.runfixtures import standard_run


def _with_outages(tmp_path):
    root = standard_run(tmp_path / "run")
    with open(root / "control.jsonl", "a") as f:
        f.write('{"event": "host_unreachable", "t_wall": 1000.5, "config": "one", "host": "h1", '
                '"error": "host h1: cannot open a session: timeout", "grace_s": 60}\n')
        f.write('{"event": "host_reconnected", "t_wall": 1046.0, "config": "one", "host": "h1", "seconds": 45.2}\n')
        f.write('{"event": "host_unreachable", "t_wall": 1100.0, "config": "one", "host": "h2", "grace_s": 60}\n')
    return root


def test_outages_pair_each_drop_with_its_reconnect(tmp_path):
    rows = outages(load_run(_with_outages(tmp_path)))
    assert [(r["host"], r["seconds"], r["grace_s"]) for r in rows] == [("h1", 45.2, 60), ("h2", None, 60)]


def test_the_section_says_which_came_back_and_is_absent_without_outages(tmp_path):
    blocks = connection_blocks(load_run(_with_outages(tmp_path)))
    assert isinstance(blocks[0], Heading) and blocks[0].text == "Connections"
    table = next(b for b in blocks if isinstance(b, Table))
    assert [row[-1] for row in table.rows] == ["reconnected, run went on", "not back within the grace"]
    assert connection_blocks(load_run(standard_run(tmp_path / "plain"))) == []
    root = _with_outages(tmp_path / "w")
    write_report(root)
    assert "## Connections" in (root / "report.md").read_text()
