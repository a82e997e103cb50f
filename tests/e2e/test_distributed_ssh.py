"""Horovod with the Gloo launcher on two real SSH hosts (loopback sshd test hosts): the
harness starts the rendezvous server and each rank over its own SSH connection; the hosts
never SSH to each other.

Not on the network-namespace hosts: Horovod 0.28.1 builds the Gloo device of its process
sets from the machine's hostname (ignoring HOROVOD_GLOO_IFACE), and namespaces share this
machine's hostname, which resolves to loopback (docs/strategies.md, "Known limits")."""

import sys

import pytest
import yaml

from harness.pipeline import run_experiment
from harness.transport.ssh import SSHOptions
from tests.support.sshd_hosts import inventory_dict, write_known_hosts
from tests.support.distributed import WORKLOAD, assert_trained, records, run_leftovers
from tests.support.ports import free_base_port

pytestmark = [pytest.mark.slow, pytest.mark.horovod]


def test_horovod_gloo_over_two_ssh_hosts(sshd_hosts, tmp_path):
    hosts, iface = sshd_hosts[:2], "lo"
    inv = inventory_dict(hosts, python=sys.executable, workdir=str(tmp_path / "work"))
    for i, entry in enumerate(inv["hosts"]):
        entry["workdir"] = f"{inv['defaults']['workdir']}/{i}"   # hosts have their own disks
    names = [h["name"] for h in inv["hosts"]]
    exp = {"name": "ssh-hvd", "workload": WORKLOAD, "sample_interval_s": 0, "base_port": free_base_port(),
           "time_limit_s": 180,
           "configurations": [{"name": "hvd", "strategy": "horovod", "workers": 2, "hosts": names,
                               "network_interface": iface}]}
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(inv))
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    opts = SSHOptions(known_hosts=write_known_hosts(hosts, tmp_path / "known_hosts"), ssh_config=None,
                      harness_known_hosts=tmp_path / "harness_known_hosts")
    res = run_experiment(str(tmp_path / "exp.yaml"), str(tmp_path / "hosts.yaml"), runs_root=str(tmp_path / "runs"),
                         run_id="sshhvd", ssh_options=opts, grace_s=5)
    assert res.status == "succeeded", res.reason
    run = tmp_path / "runs" / "sshhvd" / "hosts"
    for rank, name in enumerate(names):
        ev = run / name / "hvd" / f"worker-{rank}" / "events.jsonl"
        assert_trained(ev, 20)
        start = records(ev, "run_start")[0]
        assert start["rank"] == rank and start["host"] == name
    rdv = records(run / names[0] / "hvd" / "rendezvous" / "events.jsonl", "server_start")
    assert rdv and rdv[0]["ranks"] == 2
    assert not run_leftovers("sshhvd")
