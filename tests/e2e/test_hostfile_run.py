"""A whole run whose inventory is a Horovod/MPI hostfile: it trains, and the run directory
keeps the inventory the hostfile stood for as YAML (what --resume and the report read)."""

import pytest
import yaml

from harness.cli import main
from harness.config.inventory import load_inventory

pytestmark = [pytest.mark.slow]


def test_a_run_on_a_hostfile_keeps_its_inventory_as_yaml(tmp_path, capsys):
    (tmp_path / "hostfile").write_text("localhost slots=1   # this machine\n")
    e = tmp_path / "e.yaml"
    e.write_text(yaml.safe_dump({"name": "hf", "sample_interval_s": 0,
                                 "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32,
                                              "epochs": 1, "warmup_steps": 2},
                                 "configurations": [{"name": "one", "threads": {"intra_op": 1}}]}))
    rc = main(["run", "-e", str(e), "--hostfile", str(tmp_path / "hostfile"), "--runs-dir", str(tmp_path / "runs"),
               "--run-id", "hf", "-x", "MY_NOTE=from-x"])
    assert rc == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "hf"
    text = (run / "inventory.yaml").read_text()
    assert text.startswith(f"# from the hostfile {tmp_path / 'hostfile'}")
    inv = load_inventory(run / "inventory.yaml", hostfile=False)
    assert [(h.name, h.transport, h.slots) for h in inv.hosts] == [("localhost", "local", 1)]
    task_dir = run / "hosts" / "localhost" / "one" / "worker-0"
    assert (run / "report.md").is_file() and (task_dir / "events.jsonl").is_file()
    plan = yaml.safe_load((run / "plan.json").read_text())
    task = next(t for c in plan["configs"] for t in c["tasks"] if t["task_id"] == "worker-0")
    assert "MY_NOTE" in task["env"]   # plan.json names the variables, never their values (unit tests: the value)
