"""`env:` in the experiment and the inventory: allowed names, precedence, the env file."""

import pytest
import yaml

from harness.cli import main
from harness.config import load_experiment, load_inventory
from harness.config.envvars import validate_env, why_refused
from harness.stages.plan import build_plan
from harness.transport.shell import env_file


def test_names_the_harness_sets_are_refused_and_tuning_knobs_allowed():
    for name in ("HOROVOD_RANK", "HOROVOD_GLOO_IFACE", "TF_CONFIG", "HARNESS_EVENTS", "PYTHONPATH",
                 "TF_USE_LEGACY_KERAS", "1BAD", "A-B"):
        assert why_refused(name), name
    for name in ("NCCL_DEBUG", "HOROVOD_LOG_LEVEL", "HOROVOD_FUSION_THRESHOLD", "TF_XLA_FLAGS", "KMP_SETTINGS"):
        assert why_refused(name) is None, name
    assert validate_env({"A": 3, "B": "x y"}) == {"A": "3", "B": "x y"}
    with pytest.raises(ValueError, match="quote it"):
        validate_env({"A": True})


def _files(tmp_path, exp_env, conf_env, inv_defaults_env, host_env):
    exp = {"name": "e", "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1,
                                     "env": exp_env},
           "configurations": [{"name": "c", "env": conf_env, "threads": {"omp": 2}}], "sample_interval_s": 0}
    inv = {"defaults": {"env": inv_defaults_env},
           "hosts": [{"name": "h", "transport": "local", "env": host_env}]}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(inv))
    return tmp_path / "e.yaml", tmp_path / "h.yaml"


def test_levels_merge_into_every_task_and_the_env_file(tmp_path):
    e, h = _files(tmp_path, {"NCCL_DEBUG": "INFO", "A": "workload"}, {"A": "config", "TF_XLA_FLAGS": "--xla x"},
                  {"D": "defaults", "B": "defaults"}, {"B": "host"})
    inv = load_inventory(h)
    assert inv.hosts[0].env == {"D": "defaults", "B": "host"}
    plan = build_plan(load_experiment(e), inv, "r", tmp_path / "r")
    (task,) = [t for t in plan.configs[0].tasks if t.role != "sampler"]
    for k, v in {"NCCL_DEBUG": "INFO", "A": "config", "B": "host", "D": "defaults", "TF_XLA_FLAGS": "--xla x",
                 "OMP_NUM_THREADS": "2", "TF_USE_LEGACY_KERAS": "1"}.items():
        assert task.env[k] == v
    assert b"export TF_XLA_FLAGS='--xla x'\n" in env_file(task.env)


@pytest.mark.parametrize("where", ["workload", "config", "defaults", "host"])
def test_a_reserved_name_is_one_line_naming_the_field_and_exit_2(tmp_path, capsys, where):
    envs = {"workload": {}, "config": {}, "defaults": {}, "host": {}}
    envs[where] = {"HOROVOD_SIZE": "4"}
    e, h = _files(tmp_path, envs["workload"], envs["config"], envs["defaults"], envs["host"])
    assert main(["run", "--dry-run", "-e", str(e), "--hosts", str(h)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "env: HOROVOD_SIZE: set by the harness itself" in err[0], err
    field = {"workload": "workload.env", "config": "configurations[0].env", "defaults": "defaults.env",
             "host": "hosts[0].env"}[where]
    assert f": {field}: " in err[0] or where == "defaults", err


def test_env_and_threads_must_not_both_set_a_thread_variable(tmp_path, capsys):
    e, h = _files(tmp_path, {}, {"OMP_NUM_THREADS": "1"}, {}, {})
    assert main(["run", "--dry-run", "-e", str(e), "--hosts", str(h)]) == 2
    assert "env.OMP_NUM_THREADS and threads.omp" in capsys.readouterr().err
