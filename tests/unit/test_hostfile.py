"""Horovod/MPI hostfiles as inventories (harness/config/hostfile.py), and the horovodrun
habits on the command line: --hostfile, -np, -x."""

import pytest
import yaml

from harness.cli import main
from harness.cli.commands import _parser
from harness.cli.run import options
from harness.config.hostfile import looks_like_hostfile, parse_hostfile
from harness.config.inventory import load_inventory
from harness.errors import ConfigError, UsageError

HOSTFILE = """# two GPU hosts and this machine
10.0.0.11 slots=4
gpu-b slots=2 max_slots=2   # max_slots: read, as mpirun's oversubscription cap
gpu-c:3
localhost
"""


def test_every_spelling_horovodrun_and_mpirun_read():
    assert parse_hostfile(HOSTFILE, "hf")["hosts"] == [
        {"name": "10.0.0.11", "slots": 4, "address": "10.0.0.11"},
        {"name": "gpu-b", "slots": 2, "address": "gpu-b"},
        {"name": "gpu-c", "slots": 3, "address": "gpu-c"},
        {"name": "localhost", "slots": 1, "transport": "local"}]


@pytest.mark.parametrize("text, message", [
    ("a slots=4\nb slots=two\n", "hf line 2: slots='two': give a whole number from 1 to 1024"),
    ("a slots=0\n", "hf line 1: slots='0'"),
    ("a cpus=4\n", "hf line 1: 'cpus=4': expected slots=N"),
    ("a slots=2\n\n# x\na slots=2\n", "hf line 4: a is already on line 1"),
    ("# only comments\n", "hf: no hosts"),
    ("-oProxyCommand=x slots=1\n", "hf line 1: '-oProxyCommand=x' is not a host name"),
])
def test_errors_name_the_hostfile_line(text, message):
    with pytest.raises(ConfigError) as e:
        parse_hostfile(text, "hf")
    assert message in str(e.value)


def test_a_hostfile_is_recognised_and_a_yaml_inventory_is_not(tmp_path):
    (tmp_path / "hosts.txt").write_text(HOSTFILE)
    (tmp_path / "inv").write_text("hosts:\n  - {name: a, address: 10.0.0.1}\n")
    (tmp_path / "hf.yaml").write_text(HOSTFILE)
    assert looks_like_hostfile(tmp_path / "hosts.txt")
    assert not looks_like_hostfile(tmp_path / "inv") and not looks_like_hostfile(tmp_path / "hf.yaml")
    inv = load_inventory(tmp_path / "hosts.txt")
    assert [(h.name, h.slots) for h in inv.hosts] == [("10.0.0.11", 4), ("gpu-b", 2), ("gpu-c", 3), ("localhost", 1)]
    assert load_inventory(tmp_path / "inv").hosts[0].address == "10.0.0.1"


def test_np_x_and_hostfile_become_run_options(monkeypatch):
    monkeypatch.setenv("NCCL_DEBUG", "INFO")
    o = options(_parser().parse_args(["run", "--hostfile", "hf", "-np", "4", "-x", "NCCL_DEBUG",
                                      "-x", "MY_FLAG=1"]))
    assert (o.hosts, o.hostfile, o.workers, o.env) == ("hf", True, 4, (("NCCL_DEBUG", "INFO"), ("MY_FLAG", "1")))
    with pytest.raises(UsageError, match="-x TF_CONFIG: set by the harness"):
        options(_parser().parse_args(["run", "-x", "TF_CONFIG={}"]))
    monkeypatch.delenv("NCCL_DEBUG")
    with pytest.raises(UsageError, match="-x NCCL_DEBUG: not set in this environment"):
        options(_parser().parse_args(["run", "-x", "NCCL_DEBUG"]))
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--hosts", "a.yaml", "--hostfile", "hf"])


def _exp(tmp_path, configurations):
    e = tmp_path / "e.yaml"
    e.write_text(yaml.safe_dump({"name": "e", "workload": {"model": "mlp", "dataset": {"name": "digits"},
                                                           "batch_size": 8, "epochs": 1, "env": {"MY_FLAG": "0"}},
                                 "configurations": configurations}))
    return str(e)


def test_a_dry_run_places_np_ranks_on_the_hostfile_slots_and_x_wins_over_env(tmp_path, capsys):
    from harness import pipeline

    (tmp_path / "hosts").write_text("localhost slots=2\n127.0.0.1 slots=2\n")
    e = _exp(tmp_path, [{"name": "hvd", "strategy": "horovod", "workers": 2, "env": {"MY_FLAG": "2"}},
                        {"name": "one"}])
    assert main(["run", "--dry-run", "-e", e, "--hostfile", str(tmp_path / "hosts"), "-np", "4",
                 "-x", "MY_FLAG=cli"]) == 0
    out = capsys.readouterr().out
    assert sum(1 for line in out.splitlines() if "role worker" in line and line.lstrip().startswith("worker")) >= 4
    _, _, plan = pipeline.load_and_plan(pipeline.RunOptions(e, str(tmp_path / "hosts"), workers=4,
                                                            env=(("MY_FLAG", "cli"),)), "x")
    hvd = next(cp for cp in plan.configs if cp.name == "hvd")
    ranks = [t for t in hvd.tasks if t.rank is not None]
    assert len(ranks) == 4 and {t.env["MY_FLAG"] for t in plan.configs[0].tasks if t.role != "sampler"} == {"cli"}


def test_np_without_a_distributed_configuration_is_refused(tmp_path, capsys):
    (tmp_path / "hosts").write_text("localhost slots=2\n")
    e = _exp(tmp_path, [{"name": "one"}])
    assert main(["run", "--dry-run", "-e", e, "--hostfile", str(tmp_path / "hosts"), "-np", "2"]) == 2
    assert "-np 2: no configuration of the experiment is distributed" in capsys.readouterr().err
