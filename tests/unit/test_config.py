"""Inventory and experiment validation: every bad input is one precise line, exit 2."""

from pathlib import Path

import pytest

from harness.cli import main
from harness.config import check_experiment_against_inventory, load_experiment, load_inventory
from harness.errors import ConfigError
from tests.support.datasets import write_cifar_batch

GOOD_EXP = """
name: t
workload:
  model: mlp
  dataset: {name: digits}
  batch_size: 16
  epochs: 1
configurations:
  - name: a
    strategy: single
"""
GOOD_HOSTS = """
defaults: {user: ubuntu, labels: {zone: a}}
hosts:
  - {name: local, transport: local, slots: 2, labels: {role: worker}}
  - {name: gpu1, address: 10.0.0.5, instance_type: g4dn.xlarge, slots: 1}
"""


def write_private_key(path: Path) -> Path:
    """A real private key (0600, as ssh-keygen writes it) for inventory `key:` fields."""
    import paramiko

    paramiko.RSAKey.generate(1024).write_private_key_file(str(path))
    path.chmod(0o600)
    return path


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_good_files_load_and_defaults_apply(tmp_path):
    exp = load_experiment(write(tmp_path, "e.yaml", GOOD_EXP))
    inv = load_inventory(write(tmp_path, "h.yaml", GOOD_HOSTS))
    assert exp.workload.warmup_steps == 5 and exp.configurations[0].workers == 1
    gpu = inv.host("gpu1")
    assert gpu.user == "ubuntu" and gpu.labels == {"zone": "a"} and gpu.transport == "ssh"
    assert inv.host("local").labels == {"zone": "a", "role": "worker"}
    assert [h.name for h in inv.select(["role=worker"])] == ["local"]
    check_experiment_against_inventory(exp, inv, "e.yaml", "h.yaml")



def test_defaults_take_every_host_field_with_the_same_checks():
    from pydantic import ValidationError

    from harness.config.inventory import Host, HostDefaults, Inventory
    from harness.config.loading import validation_lines

    shared = [f for f in Host.model_fields if f not in ("name", "address")]
    assert list(HostDefaults.model_fields) == shared
    assert all(v in (None, {}) for v in HostDefaults().model_dump().values())  # unset: the host's own default

    def lines(data) -> list[str]:
        with pytest.raises(ValidationError) as ei:
            Inventory.model_validate(data)
        return validation_lines("h.yaml", ei.value)

    bad = {"port": 0, "user": "", "key": "a\nb", "transport": "tcp", "instance_type": "i" * 65, "slots": 0,
           "gpus": 65, "python": "", "labels": {"k": "v\n"}, "price_per_hour": -1, "spot_price_per_hour": "x",
           "proxy_jump": "", "env": {"TF_CONFIG": "x"}, "workdir": "/a\nb", "allow_unprotected_key": "maybe",
           "autostop": "soon"}
    assert sorted(bad) == sorted(shared)  # a new shared field gets a bad value here too
    for field, value in bad.items():
        on_host = lines({"hosts": [{"name": "h", "address": "a", field: value}]})
        in_defaults = lines({"defaults": {field: value}, "hosts": [{"name": "h", "address": "a"}]})
        assert on_host[0].startswith(f"h.yaml: hosts[0].{field}") and in_defaults[0].startswith(f"h.yaml: defaults.{field}")
        assert on_host[0].split(": ", 2)[2] == in_defaults[0].split(": ", 2)[2], (on_host, in_defaults)


# (experiment text, hosts text, expected fragment of the one error line)
BAD = {
    "unknown key": (GOOD_EXP.replace("batch_size: 16", "batch_size: 16\n  bach_size: 3"), GOOD_HOSTS,
                    "workload.bach_size: unknown key"),
    "wrong type": (GOOD_EXP.replace("batch_size: 16", "batch_size: lots"), GOOD_HOSTS,
                   "workload.batch_size: Input should be a valid integer"),
    "negative batch": (GOOD_EXP.replace("batch_size: 16", "batch_size: -1"), GOOD_HOSTS,
                       "workload.batch_size: Input should be greater than or equal to 1"),
    "unknown model": (GOOD_EXP.replace("model: mlp", "model: vgg99"), GOOD_HOSTS,
                      "workload.model: unknown model; expected one of"),
    "unknown dataset": (GOOD_EXP.replace("name: digits", "name: imagenet"), GOOD_HOSTS,
                        "workload.dataset.name: Input should be"),
    "file dataset without path": (GOOD_EXP.replace("name: digits", "name: cifar10"), GOOD_HOSTS,
                                  "workload.dataset: dataset 'cifar10' needs 'path'"),
    "missing dataset path": (GOOD_EXP.replace("name: digits}", "name: cifar10, path: nowhere}"), GOOD_HOSTS,
                             "workload.dataset.path: "),
    "unknown strategy": (GOOD_EXP.replace("strategy: single", "strategy: magic"), GOOD_HOSTS,
                         "configurations[0].strategy: unknown strategy"),
    "single with workers": (GOOD_EXP.replace("strategy: single", "strategy: single\n    workers: 2"), GOOD_HOSTS,
                            "configurations[0]: strategy 'single' runs exactly one worker"),
    "duplicate configs": (GOOD_EXP + "  - name: a\n", GOOD_HOSTS, "configuration names must be unique; repeated: a"),
    "target out of range": (GOOD_EXP.replace("epochs: 1", "epochs: 1\n  target_accuracy: 1.5"), GOOD_HOSTS,
                            "workload.target_accuracy: Input should be less than or equal to 1"),
    "no epochs": (GOOD_EXP.replace("epochs: 1", ""), GOOD_HOSTS, "workload: set 'epochs'"),
    "yaml syntax": (GOOD_EXP.replace("batch_size: 16", "batch_size: [16"), GOOD_HOSTS, "YAML syntax error"),
    "top level list": ("- a\n- b\n", GOOD_HOSTS, "top level must be a mapping"),
    "ssh host without address": (GOOD_EXP, GOOD_HOSTS.replace("address: 10.0.0.5, ", ""),
                                 "hosts[1]: an ssh host needs 'address'"),
    "duplicate hosts": (GOOD_EXP, GOOD_HOSTS.replace("name: gpu1", "name: local"),
                        "host name 'local' appears more than once"),
    "bad port": (GOOD_EXP, GOOD_HOSTS.replace("slots: 1}", "slots: 1, port: 70000}"),
                 "hosts[1].port: Input should be less than or equal to 65535"),
    "slash in host name": (GOOD_EXP, GOOD_HOSTS.replace("name: gpu1", "name: a/b"), "hosts[1].name: host name must not"),
    "missing key file": (GOOD_EXP, GOOD_HOSTS.replace("slots: 1}", "slots: 1, key: keys/none}"),
                         "hosts[1].key: file"),
    "more workers than slots": (GOOD_EXP.replace("strategy: single", "strategy: single\n    hosts: [gpu9]"), GOOD_HOSTS,
                                "configurations[0].hosts: 'gpu9' matches no host"),
    "empty file": ("", GOOD_HOSTS, "file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_precise_line_and_exit_2(tmp_path, capsys, case):
    exp_text, hosts_text, expected = BAD[case]
    e = write(tmp_path, "exp.yaml", exp_text)
    h = write(tmp_path, "hosts.yaml", hosts_text)
    rc = main(["run", "--experiment", e, "--hosts", h, "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1, err
    assert expected in err[0]
    # Names the file it is about, and nothing was started or written.
    assert "exp.yaml" in err[0] or "hosts.yaml" in err[0]
    assert not (tmp_path / "runs").exists()


def test_several_problems_are_one_line_each(tmp_path):
    text = GOOD_EXP.replace("batch_size: 16", "batch_size: 0\n  colour: red").replace("model: mlp", "model: nope")
    with pytest.raises(ConfigError) as ei:
        load_experiment(write(tmp_path, "e.yaml", text))
    assert len(ei.value.lines()) == 3


def test_missing_file_is_named(tmp_path, capsys):
    rc = main(["run", "--experiment", str(tmp_path / "nope.yaml"), "--hosts", "hosts/local.yaml"])
    assert rc == 2
    assert "nope.yaml: file not found" in capsys.readouterr().err


def test_workers_beyond_slots(tmp_path):
    exp = load_experiment(write(tmp_path, "e.yaml", GOOD_EXP))
    inv = load_inventory(write(tmp_path, "h.yaml", GOOD_HOSTS.replace("slots: 2", "slots: 1")))
    # A configuration with more workers than slots (built directly: 'single' forbids it).
    cfg = exp.configurations[0].model_construct(**{**exp.configurations[0].model_dump(), "workers": 5})
    exp2 = exp.model_copy(update={"configurations": [cfg]})
    with pytest.raises(ConfigError) as ei:
        check_experiment_against_inventory(exp2, inv, "e.yaml", "h.yaml")
    assert "configurations[0].workers: 5 workers need 5 slots" in ei.value.lines()[0]


def test_relative_paths_resolve_against_their_file(tmp_path):
    (tmp_path / "data").mkdir()
    write_cifar_batch(tmp_path / "data" / "data_batch_1", 2, 0)
    (tmp_path / "keys").mkdir()
    write_private_key(tmp_path / "keys" / "id")
    exp = load_experiment(write(tmp_path, "e.yaml", GOOD_EXP.replace("name: digits}", "name: cifar10, path: data}")))
    inv = load_inventory(write(tmp_path, "h.yaml", GOOD_HOSTS.replace("slots: 1}", "slots: 1, key: keys/id}")))
    assert exp.workload.dataset.path == str(tmp_path / "data")
    assert inv.host("gpu1").key == str(tmp_path / "keys" / "id")


def test_shipped_examples_are_valid():
    root = Path(__file__).resolve().parents[2]
    inv = load_inventory(root / "hosts" / "local.yaml")
    for p in sorted((root / "experiments").glob("*.yaml")):
        exp = load_experiment(p)
        if all(h.is_local for h in inv.hosts) and p.name == "default.yaml":
            check_experiment_against_inventory(exp, inv, str(p), "hosts/local.yaml")
