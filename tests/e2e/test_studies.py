"""The packaged studies: each EC2 study plans (--dry-run) against its example inventory, its
rehearsal has the same configurations on the same host names, and the inventory helpers
(`sandbox rehearse --like`, `hosts discover --fill`) map hosts as documented."""

from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.config import load_experiment, load_inventory
from harness.errors import HarnessError

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted(p.stem for p in (ROOT / "experiments" / "studies").glob("*.yaml"))


def test_four_studies_each_with_example_inventory_and_rehearsal():
    assert STUDIES == ["cifar10-local-vs-distributed", "cnn-threads-on-c3-xlarge",
                       "face-recognition-single-vs-parameter-server", "facial-keypoints-five-gpu-types"]
    for s in STUDIES:
        assert (ROOT / "hosts" / "examples" / f"{s}.yaml").is_file()
        assert (ROOT / "experiments" / "studies" / "rehearsal" / f"{s}.yaml").is_file()


@pytest.mark.parametrize("study", STUDIES)
def test_study_dry_runs_against_its_example_inventory(study, capsys):
    rc = main(["run", "--dry-run", "-e", str(ROOT / "experiments" / "studies" / f"{study}.yaml"),
               "--hosts", str(ROOT / "hosts" / "examples" / f"{study}.yaml")])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith("schedule: ")
    exp = load_experiment(ROOT / "experiments" / "studies" / f"{study}.yaml")
    for cfg in exp.configurations:
        assert f"{cfg.name}: strategy {cfg.strategy}" in out


@pytest.mark.parametrize("study", STUDIES)
def test_rehearsal_compares_the_same_configurations_on_the_same_hosts(study):
    real = load_experiment(ROOT / "experiments" / "studies" / f"{study}.yaml")
    rehearsal = load_experiment(ROOT / "experiments" / "studies" / "rehearsal" / f"{study}.yaml")
    shape = lambda e: [(c.name, c.strategy, c.workers, c.ps, c.hosts, c.ps_hosts) for c in e.configurations]  # noqa: E731
    assert shape(real) == shape(rehearsal)
    assert real.parallel == rehearsal.parallel
    assert rehearsal.workload.model == real.workload.model
    ex = load_inventory(ROOT / "hosts" / "examples" / f"{study}.yaml")
    assert all(h.instance_type for h in ex.hosts)
    assert all(h.address.startswith("203.0.113.") for h in ex.hosts)  # placeholders, TEST-NET-3


def test_facial_keypoints_types_and_shape():
    exp = load_experiment(ROOT / "experiments" / "studies" / "facial-keypoints-five-gpu-types.yaml")
    ex = load_inventory(ROOT / "hosts" / "examples" / "facial-keypoints-five-gpu-types.yaml")
    assert sorted(h.instance_type for h in ex.hosts) == ["g3.4xlarge", "g3s.xlarge", "g4dn.4xlarge",
                                                         "p2.xlarge", "p3.2xlarge"]
    assert exp.parallel and exp.workload.dataset.missing_labels == "ffill"
    reh = load_experiment(ROOT / "experiments" / "studies" / "rehearsal" / "facial-keypoints-five-gpu-types.yaml")
    assert reh.workload.dataset.shape == [96, 96, 1] and reh.workload.dataset.targets == 30


SANDBOX = {"defaults": {"user": "root", "key": "/sb/key", "python": "/py", "instance_type": "sandbox",
                        "labels": {"sandbox": "1", "network_interface": "eth0"}},
           "hosts": [{"name": f"sb{i}", "address": f"198.18.0.{i + 2}", "port": 22, "workdir": f"/sb/w{i}"}
                     for i in range(3)]}


def test_rehearsal_inventory_stands_in_for_the_example():
    from harness.sandbox.like import rehearsal_inventory

    ex = yaml.safe_load((ROOT / "hosts" / "examples" / "facial-keypoints-five-gpu-types.yaml").read_text())
    with pytest.raises(HarnessError, match="5 hosts, the sandbox has 3"):
        rehearsal_inventory(ex, SANDBOX)
    ex = yaml.safe_load((ROOT / "hosts" / "examples" / "face-recognition-single-vs-parameter-server.yaml").read_text())
    doc = rehearsal_inventory(ex, SANDBOX)
    h = doc["hosts"][1]
    assert h["name"] == "face-b" and h["address"] == "198.18.0.3" and h["key"] == "/sb/key"
    assert h["instance_type"] == "g4dn.xlarge" and h["gpus"] == 0 and h["workdir"] == "/sb/w1"
    assert h["labels"]["network_interface"] == "eth0" and h["labels"]["stands_in_for"] == "g4dn.xlarge"


def test_discover_fill_matches_by_name_then_type():
    from harness.aws.fill import fill_inventory

    ex = yaml.safe_load((ROOT / "hosts" / "examples" / "facial-keypoints-five-gpu-types.yaml").read_text())
    found = {"defaults": {"user": "ubuntu"}, "hosts": [
        {"name": "p3-2xlarge", "address": "54.1.1.5", "instance_type": "p3.2xlarge", "labels": {"instance_id": "i-5"}},
        {"name": "gpu-x", "address": "54.1.1.1", "instance_type": "g3s.xlarge", "key": "/k/a.pem",
         "labels": {"instance_id": "i-1"}},
        {"name": "gpu-y", "address": "54.1.1.2", "instance_type": "g3.4xlarge", "labels": {"instance_id": "i-2"}},
        {"name": "gpu-z", "address": "54.1.1.3", "instance_type": "g4dn.4xlarge", "labels": {"instance_id": "i-3"}},
        {"name": "gpu-w", "address": "54.1.1.4", "instance_type": "p2.xlarge", "labels": {"instance_id": "i-4"}},
        {"name": "extra", "address": "54.1.1.9", "instance_type": "c5.large"}]}
    doc, notes = fill_inventory(ex, found, "ex.yaml")
    by = {h["name"]: h for h in doc["hosts"]}
    assert by["g3s-xlarge"]["address"] == "54.1.1.1" and by["g3s-xlarge"]["key"] == "/k/a.pem"
    assert by["p3-2xlarge"]["labels"]["instance_id"] == "i-5" and by["p2-xlarge"]["address"] == "54.1.1.4"
    assert any("extra" in n and "left out" in n for n in notes)
    found["hosts"] = found["hosts"][:2]
    with pytest.raises(HarnessError, match="no running instance for host"):
        fill_inventory(ex, found, "ex.yaml")
