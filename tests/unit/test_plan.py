"""Planning is pure: same inputs, same plan; every task knows its host, dir, env and spec."""

from pathlib import Path

from harness.config import load_experiment, load_inventory
from harness.stages.plan import build_plan, host_task_dir
from harness.config.inventory import Host

ROOT = Path(__file__).resolve().parents[2]


def test_default_experiment_plans_one_task_per_configuration(tmp_path):
    # One run of each (the default experiment's repeats are tested in tests/unit/test_schedule.py).
    exp = load_experiment(ROOT / "experiments" / "default.yaml").model_copy(
        update={"repeats": 1, "warmup_run": False})
    inv = load_inventory(ROOT / "hosts" / "local.yaml")
    plan = build_plan(exp, inv, "r1", tmp_path / "r1")
    assert [c.name for c in plan.configs] == [c.name for c in exp.configurations]
    for cp, cfg in zip(plan.configs, exp.configurations):
        (sampler,) = [t for t in cp.tasks if t.role == "sampler"]
        (task,) = [t for t in cp.tasks if t.role != "sampler"]
        assert sampler.start_group < task.start_group and not sampler.critical and not sampler.finishes
        assert sampler.spec["interval_s"] == exp.sample_interval_s
        assert task.rank == 0 and task.spec["size"] == 1 and task.role == "worker"
        assert task.task_dir == str((tmp_path / "r1").resolve() / "hosts" / "local" / cp.name / "worker-0")
        assert task.env["TF_USE_LEGACY_KERAS"] == "1"
        assert task.env["HARNESS_RUN_ID"] == "r1"
        assert task.spec["threads"] == cfg.threads.model_dump()
        assert task.spec["workload"]["batch_size"] == exp.workload.batch_size
        if cfg.threads.omp:
            assert task.env["OMP_NUM_THREADS"] == str(cfg.threads.omp)
    assert build_plan(exp, inv, "r1", tmp_path / "r1") == plan


def test_remote_hosts_work_under_their_workdir(tmp_path):
    h = Host(name="gpu 1", address="198.18.0.10", workdir="/scratch/h a")
    assert host_task_dir(h, tmp_path, "r1", "c", "worker-0") == "/scratch/h a/runs/r1/c/worker-0"
    assert host_task_dir(Host(name="x", address="a"), tmp_path, "r", "c", "t") == "/tmp/harness/runs/r/c/t"
    local_with_workdir = Host(name="l", transport="local", workdir=str(tmp_path / "w"))
    assert host_task_dir(local_with_workdir, tmp_path, "r", "c", "t") == str(tmp_path / "w" / "runs/r/c/t")


def test_each_task_is_told_its_configurations_own_workload(tmp_path):
    (tmp_path / "e.yaml").write_text(
        "name: w\nworkload: {model: mlp, dataset: {name: digits}, batch_size: 32, epochs: 2, target_accuracy: 0.5}\n"
        "configurations:\n  - {name: b, workload: {batch_size: [16, 64], epochs: 1}}\n  - {name: plain}\n")
    exp = load_experiment(tmp_path / "e.yaml").model_copy(update={"repeats": 1, "warmup_run": False})
    plan = build_plan(exp, load_inventory(ROOT / "hosts" / "local.yaml"), "r1", tmp_path / "r1")
    told = {cp.name: [(t.spec["workload"]["batch_size"], t.spec["workload"]["epochs"])
                      for t in cp.tasks if t.role != "sampler"] for cp in plan.configs}
    assert told == {"b-batch_size16": [(16, 1)], "b-batch_size64": [(64, 1)], "plain": [(32, 2)]}
