"""`harness check -e` across hosts: what the plan needs of the network, and the hostname
verdict (pure parts of harness/preflight/network.py; the sandbox test runs the real thing)."""

import yaml

from harness.preflight.network import HostNeeds, interpret_hostname, needs, ssh_probe_command
from harness.config import load_experiment, load_inventory
from harness.stages.plan import build_plan


def _plan(tmp_path, configurations):
    inv = {"defaults": {"python": "python3", "labels": {"network_interface": "eth0"}},
           "hosts": [{"name": "a", "address": "10.0.0.1"}, {"name": "b", "address": "10.0.0.2", "port": 2222,
                                                            "user": "u"}]}
    exp = {"name": "e", "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1},
           "configurations": configurations}
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(inv))
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    i = load_inventory(tmp_path / "h.yaml")
    return build_plan(load_experiment(tmp_path / "e.yaml"), i, "r", tmp_path / "r"), {h.name: h for h in i.hosts}


def test_gloo_needs_resolvable_names_and_the_rendezvous_port_from_every_peer(tmp_path):
    plan, hosts = _plan(tmp_path, [{"name": "g", "strategy": "horovod", "workers": 2}])
    n = needs(plan, hosts)
    port = next(t for t in plan.configs[0].tasks if t.role == "rendezvous").spec["ports"][0]
    assert n["a"].resolve and n["b"].resolve and n["a"].iface == "eth0"
    assert n["a"].listen == {port} and n["b"].connect == {("a", "10.0.0.1", port)} and not n["a"].connect


def test_mpi_launcher_needs_ssh_from_the_first_host(tmp_path):
    plan, hosts = _plan(tmp_path, [{"name": "m", "strategy": "horovod", "launcher": "mpi", "workers": 2}])
    n = needs(plan, hosts)
    assert n["a"].mpi_ssh == {("b", "10.0.0.2", 2222, "u")} and not n["a"].resolve
    cmd = ssh_probe_command(sorted(n["a"].mpi_ssh))
    assert "ssh -o BatchMode=yes -o ConnectTimeout=5 -p 2222 -l u 10.0.0.2 true" in cmd


def test_single_host_configurations_need_nothing_between_hosts(tmp_path):
    plan, hosts = _plan(tmp_path, [{"name": "s", "hosts": ["a"]}])
    assert needs(plan, hosts) == {}


FACTS = {"hostname": "sb0", "interfaces": {"lo": ["127.0.0.1"], "eth0": ["198.18.1.10"]}}


def test_hostname_verdicts_name_the_host_and_the_fix():
    need = HostNeeds("sb0", "198.18.1.10", resolve=True, iface="eth0")
    broken = interpret_hostname({**FACTS, "hostname_addresses": [], "hostname_error": "Name or service not known"},
                                need)
    assert "hostname 'sb0' does not resolve on sb0" in broken and "Unable to find address for: sb0" in broken
    assert "add '198.18.1.10 sb0' to /etc/hosts on sb0" in broken
    wrong = interpret_hostname({**FACTS, "hostname_addresses": ["127.0.1.1"]}, need)
    assert "resolves to 127.0.1.1" in wrong and "'198.18.1.10 sb0'" in wrong
    assert interpret_hostname({**FACTS, "hostname_addresses": ["198.18.1.10"]}, need) is None
    assert interpret_hostname({**FACTS, "hostname_addresses": []}, HostNeeds("sb0", "x")) is None  # no Gloo here
    # Reached over NAT (public address not on an interface), no iface given: any own address will do.
    nat = HostNeeds("sb0", "203.0.113.5", resolve=True)
    assert interpret_hostname({**FACTS, "hostname_addresses": ["198.18.1.10"]}, nat) is None
