"""What the user sees while tasks run: plain lines off a terminal, a live table on one."""

import io

from rich.console import Console

from harness.stages.launch import TaskState
from harness.stages.plan import ConfigPlan, Task
from harness.cli.progress import LineProgress, LiveTable, host_utilization


def states():
    w = TaskState(Task("c", "worker-0", "worker", 0, 0, "h1", "/t"), pid=5, state="running",
                  last_step={"event": "step", "step": 40, "epoch": 2, "images": 320, "seconds": 0.5, "loss": 0.25})
    s = TaskState(Task("c", "sampler", "sampler", 0, None, "h1", "/s", finishes=False, critical=False), state="running",
                  last_step={"event": "sample", "cpu_percent": 87.5, "gpus": [{"util_percent": 50}, {"util_percent": 70}]})
    f = TaskState(Task("c", "worker-1", "worker", 1, 1, "h2", "/u"), state="failed", returncode=2, error="boom")
    return [s, w, f]


def test_host_utilization_from_the_newest_sample():
    assert host_utilization(states()) == {"h1": (87.5, 60.0)}


def test_line_progress_prints_changes_and_skips_samplers():
    out = io.StringIO()
    cp = ConfigPlan("c", "single", ("h1", "h2"), (), 10)
    p = LineProgress(out, every=3600)
    p(cp, states())
    p(cp, states())   # nothing changed: nothing printed again
    lines = out.getvalue().splitlines()
    assert lines == ["[c] h1/worker-0: running  step 40  epoch 2  640 images/s  loss 0.2500",
                     "[c] h2/worker-1: failed (exit 2)  boom"]


def test_live_table_rows():
    console = Console(file=io.StringIO(), width=160, record=True, force_terminal=False)
    t = LiveTable(console)
    t(ConfigPlan("c", "single", ("h1",), (), 10), states())
    t.close()
    text = console.export_text()
    assert "worker-0" in text and "640" in text and "88" in text and "60" in text
    assert "sampler" not in text and "failed (2)" in text
