"""harness/config/overrides.py (with the experiment and the sweeps): a configuration's own
workload — what it may set, the merged workload, sweeps over its fields, and the one-line
refusals (experiment-wide fields, shorthand keys, a throughput goal over different work)."""

import json

import pytest
import yaml

from harness.config.experiment import Workload, load_experiment
from harness.config.overrides import (
    EXPERIMENT_WIDE, OverrideProblem, goal_problem, merged_workloads, throughput_basis_problem, work_difference,
)
from harness.config.sweeps import expand_sweeps
from harness.errors import ConfigError
from harness.protocol.workload import PER_CONFIGURATION, WORK_FIELDS

WORKLOAD = {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 2, "target_accuracy": 0.5}


def write(tmp_path, configs, workload=None):
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "workload": workload or WORKLOAD, "configurations": configs},
                                sort_keys=False))
    return p


def errors(tmp_path, configs, workload=None) -> list[str]:
    p = write(tmp_path, configs, workload)
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    return [line[len(f"{p}: "):] for line in e.value.lines()]


def test_a_configuration_overrides_fields_of_the_experiments_workload(tmp_path):
    exp = load_experiment(write(tmp_path, [
        {"name": "base"},
        {"name": "big", "workload": {"batch_size": 256, "learning_rate": 0.4, "epochs": 1, "warmup_steps": 2}}]))
    base, big = (exp.workload_of(c) for c in exp.configurations)
    assert base is exp.workload and base.batch_size == 32 and base.learning_rate == 0.01
    assert (big.batch_size, big.learning_rate, big.epochs, big.warmup_steps) == (256, 0.4, 1, 2)
    assert big.dataset == exp.workload.dataset and big.target_accuracy == 0.5  # the rest is the experiment's
    assert exp.workload_of("big") == big
    # resolved.json shows what a configuration changes, not every unset field
    dumped = json.loads(json.dumps(exp.model_dump()))
    assert dumped["configurations"][0]["workload"] == {}
    assert dumped["configurations"][1]["workload"] == {"batch_size": 256, "learning_rate": 0.4, "epochs": 1,
                                                       "warmup_steps": 2}


def test_the_model_and_script_args_are_per_configuration(tmp_path):
    exp = load_experiment(write(tmp_path, [{"name": "mlp"}, {"name": "res", "workload": {"model": "resnet20"}}]))
    assert exp.workload_of("res").model == "resnet20"
    script = tmp_path / "train.py"
    script.write_text("print(1)\n")
    exp = load_experiment(write(tmp_path, [
        {"name": "d18", "workload": {"args": ["--depth", "18"], "warmup_readings": 2}}, {"name": "plain"}],
        workload={"script": "train.py", "args": ["--x"], "target_accuracy": 0.9}))
    assert exp.workload_of("d18").args == ["--depth", "18"] and exp.workload_of("d18").warmup_readings == 2
    assert exp.workload_of("plain").args == ["--x"]
    assert exp.workload_of("d18").script == str(script)   # the resolved path, as the experiment's


def test_every_overridable_field_is_a_workload_field_and_the_rest_is_experiment_wide():
    fields = set(Workload.model_fields)
    assert set(PER_CONFIGURATION) <= fields and set(WORK_FIELDS) <= set(PER_CONFIGURATION)
    assert set(PER_CONFIGURATION) | set(EXPERIMENT_WIDE) == fields        # each field decided one way
    assert not set(PER_CONFIGURATION) & set(EXPERIMENT_WIDE)


def test_sweeps_over_workload_fields_expand_like_thread_sweeps(tmp_path):
    exp = load_experiment(write(tmp_path, [
        {"name": "b", "workload": {"batch_size": [64, 128, 256], "learning_rate": 0.2}, "threads": {"omp": [1, 2]}},
        {"name": "plain"}]))
    names = [c.name for c in exp.configurations]
    assert names == ["b-omp1-batch_size64", "b-omp1-batch_size128", "b-omp1-batch_size256",
                     "b-omp2-batch_size64", "b-omp2-batch_size128", "b-omp2-batch_size256", "plain"]
    assert [exp.workload_of(n).batch_size for n in names] == [64, 128, 256, 64, 128, 256, 32]
    assert {exp.workload_of(n).learning_rate for n in names[:6]} == {0.2}
    # args: a list of strings is one value, a list of lists a sweep
    data, origin = expand_sweeps({"configurations": [
        {"name": "s", "workload": {"args": [["--depth", "18"], ["--depth", "50"]]}},
        {"name": "one", "workload": {"args": ["--depth", "18"]}}]})
    assert [c["name"] for c in data["configurations"]] == ["s-args0", "s-args1", "one"]
    assert data["configurations"][1]["workload"]["args"] == ["--depth", "50"]
    assert origin[1] == (0, {("workload", "args"): 1}, "s-args1") and origin[2] == (1, {}, "one")


@pytest.mark.parametrize("conf, line", [
    ({"batch_size": 256}, "configurations[1].batch_size: a workload field; write it under this configuration's "
                          "workload: (workload: {batch_size: 256})"),
    ({"dataset": {"name": "digits"}}, "configurations[1].dataset: a workload field, not per configuration: "
                                      "every configuration trains on the same data"),
    ({"workload": {"dataset": {"name": "digits"}}}, "configurations[1].workload.dataset: not in a configuration's "
                                                    "workload: every configuration trains on the same data"),
    ({"workload": {"target_accuracy": 0.9}}, "configurations[1].workload.target_accuracy: not in a configuration's "
                                             "workload: every configuration is ranked against the same target"),
    ({"workload": {"env": {"A": "1"}}}, "configurations[1].workload.env: not in a configuration's workload: "
                                        "a configuration has its own env:"),
    ({"workload": {"bogus": 1}}, "configurations[1].workload.bogus: unknown key"),
    ({"workload": {"batch_size": 0}}, "configurations[1].workload.batch_size: Input should be greater than or "
                                      "equal to 1 (got 0)"),
    ({"workload": {"batch_size": None}}, "configurations[1].workload.batch_size: null changes nothing"),
    ({"workload": {"batch_size": []}}, "configurations[1].workload.batch_size: an empty list sweeps nothing"),
    ({"workload": {"model": "nope"}}, "configurations[1].workload.model: unknown model; expected one of"),
    ({"workload": {"optimizer": "lbfgs"}}, "configurations[1].workload.optimizer: Input should be"),
    ({"workload": {"args": ["--x"]}}, "configurations[1].workload.args: for a script workload; the experiment's "
                                      "workload is the built-in model 'mlp'"),
    ({"workload": {"learning_rate": [0.1, -1]}}, "configurations[1].workload.learning_rate[1]: Input should be "
                                                 "greater than 0 (got -1) (in the swept configuration 'b-learning_rate-1')"),
    ({"workload": {"batch_size": [16, [1]]}}, "configurations[1].workload.batch_size[1]: a sweep lists single values"),
    ({"workload": {"args": [["--a"], "--b"]}}, "configurations[1].workload.args[1]: a sweep of args lists argument "
                                               "lists"),
])
def test_bad_input_is_one_line_naming_the_configurations_field(tmp_path, conf, line):
    lines = errors(tmp_path, [{"name": "a"}, {"name": "b", **conf}])
    assert len(lines) == 1 and lines[0].startswith(line), lines


def test_a_script_workload_keeps_its_script(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    (line,) = errors(tmp_path, [{"name": "a"}, {"name": "b", "workload": {"model": "mlp"}}],
                     workload={"script": "train.py", "target_accuracy": 0.9})
    assert line.startswith("configurations[1].workload.model: the experiment's workload runs a script")


def test_different_work_without_a_target_is_refused_naming_the_field(tmp_path):
    no_target = {k: v for k, v in WORKLOAD.items() if k != "target_accuracy"}
    (line,) = errors(tmp_path, [{"name": "a"}, {"name": "b", "workload": {"batch_size": [32, 256]}}], no_target)
    assert line == ("configurations[1].workload.batch_size[1]: 256 here but 32 in configuration 'a': images/s and $ "
                    "per image would compare different work (a bigger batch always wins them), so the goal must be "
                    "time or $ to a target: set workload.target_accuracy (or target_rmse), or compare them in "
                    "separate experiments (in the swept configuration 'b-batch_size256')")
    (line,) = errors(tmp_path, [{"name": "a"}, {"name": "adam", "workload": {"optimizer": "adam"}}], no_target)
    assert line.startswith("configurations[1].workload.optimizer: 'adam' here but 'sgd' in configuration 'a'")
    # what does not change the work per image or step may differ without a target
    exp = load_experiment(write(tmp_path, [{"name": "a"}, {"name": "b", "workload": {
        "learning_rate": 0.5, "epochs": 1, "warmup_steps": 1, "seed": 3, "scale_lr": True, "log_every": 2,
        "calibration_steps": 0, "steps_per_epoch": 4}}], no_target))
    assert exp.workload_of("b").seed == 3


def test_the_goal_check_is_pure_and_names_the_first_difference():
    w = Workload(model="mlp", dataset={"name": "digits"}, batch_size=32, epochs=1)

    class C:
        def __init__(self, name, **over):
            self.name = name
            self.workload = type("O", (), {"model_dump": lambda self, **k: over})()

    confs = [C("a"), C("b", learning_rate=0.1), C("c", batch_size=64)]
    works = merged_workloads(w, confs, Workload)
    assert [x.batch_size for x in works] == [32, 32, 64] and works[0] is w
    assert work_difference(confs, works) == (2, "batch_size", "64 here but 32 in configuration 'a'")
    p = throughput_basis_problem(confs, works)
    assert isinstance(p, OverrideProblem) and (p.index, p.field) == (2, "batch_size")
    assert str(p).startswith("configurations[2].workload.batch_size: 64 here but 32")
    assert goal_problem(confs, works, target_set=True) is None
    assert goal_problem(confs[:2], works[:2], target_set=False) is None
    assert "set workload.target_accuracy" in str(goal_problem(confs, works, target_set=False))


def test_the_dry_run_shows_each_configurations_own_workload_and_bad_input_exits_2(tmp_path, capsys):
    from harness.cli import main

    hosts = tmp_path / "h.yaml"
    hosts.write_text("hosts:\n  - {name: local, transport: local, slots: 2}\n")
    p = write(tmp_path, [{"name": "b", "workload": {"batch_size": [16, 64]}}, {"name": "plain"}])
    assert main(["run", "--dry-run", "-e", str(p), "--hosts", str(hosts)]) == 0
    out = capsys.readouterr().out
    assert "b-batch_size16: strategy single, hosts local, workload batch_size 16\n" in out
    assert "plain: strategy single, hosts local\n" in out
    p = write(tmp_path, [{"name": "b", "batch_size": 64}])
    assert main(["run", "--dry-run", "-e", str(p), "--hosts", str(hosts)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "configurations[0].batch_size: a workload field" in err[0], err
