"""Planning of the distributed strategies, ports, the thread sweep and strategy validation:
pure functions, no processes."""

import json
from pathlib import Path

import pytest
import yaml

from harness.config import Inventory, load_experiment
from harness.config.experiment import Experiment, expand_sweeps
from harness.config.inventory import Host
from harness.errors import ConfigError
from harness.stages.plan import build_plan
from harness.strategies import horovod
from harness.worker import mpi
from harness.strategies.ports import PortAllocator, machine_key

WORKLOAD = {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 16, "epochs": 1}
HOSTS = {"hosts": [
    {"name": "h1", "transport": "local", "address": "127.0.0.1", "slots": 2, "labels": {"role": "ps"}},
    {"name": "h2", "transport": "local", "address": "127.0.0.1", "slots": 2},
    {"name": "h3", "transport": "local", "address": "127.0.0.1", "slots": 1},
]}


def plan_for(tmp_path, *configs, hosts=HOSTS, workload=WORKLOAD, **exp):
    e = Experiment.model_validate({"name": "t", "workload": workload, "configurations": list(configs),
                                   "sample_interval_s": 0, **exp})
    return build_plan(e, Inventory.model_validate(hosts), "r1", tmp_path / "r1")


def tasks_of(plan, i=0):
    return {t.task_id: t for t in plan.configs[i].tasks}


# -- Horovod ------------------------------------------------------------------------------

def test_slot_plan_fills_hosts_and_numbers_local_and_cross_ranks():
    hosts = [Host(name="a", address="x", slots=2), Host(name="b c", address="y", slots=2)]
    slots = horovod.slot_plan(hosts, 3)
    assert [(s.host, s.rank, s.local_rank, s.local_size) for s in slots] == [
        ("a", 0, 0, 2), ("a", 1, 1, 2), ("b c", 2, 0, 1)]
    # local rank 0 exists on both hosts, local rank 1 only on the first
    assert [(s.cross_rank, s.cross_size) for s in slots] == [(0, 2), (0, 1), (1, 2)]
    assert slots[2].hostname == "1-b_c" and all(s.size == 3 for s in slots)
    with pytest.raises(ValueError, match="need 5 slots"):
        horovod.slot_plan(hosts, 5)


def test_gloo_plan_starts_rendezvous_first_and_gives_every_rank_horovods_environment(tmp_path):
    plan = plan_for(tmp_path, {"name": "hv", "strategy": "horovod", "workers": 3, "hosts": ["h1", "h2"],
                               "horovod_timeline": True}, base_port=30000)
    t = tasks_of(plan)
    rdv = t["rendezvous"]
    assert rdv.role == "rendezvous" and not rdv.finishes and rdv.host == "h1" and rdv.rank is None
    assert rdv.spec["ports"] == [30000] and rdv.spec["cluster"]["port"] == 30000
    assert [s["rank"] for s in rdv.spec["cluster"]["slots"]] == [0, 1, 2]
    ranks = [t[f"worker-{r}"] for r in range(3)]
    assert all(r.start_group > rdv.start_group and r.finishes and r.critical for r in ranks)
    assert [r.host for r in ranks] == ["h1", "h1", "h2"]
    env = ranks[2].env
    assert env["HOROVOD_RANK"] == "2" and env["HOROVOD_SIZE"] == "3" and env["HOROVOD_LOCAL_RANK"] == "0"
    assert env["HOROVOD_LOCAL_SIZE"] == "1" and env["HOROVOD_CROSS_RANK"] == "1" and env["HOROVOD_CROSS_SIZE"] == "2"
    assert env["HOROVOD_HOSTNAME"] == rdv.spec["cluster"]["slots"][2]["hostname"]
    assert env["HOROVOD_GLOO_RENDEZVOUS_ADDR"] == "127.0.0.1" and env["HOROVOD_GLOO_RENDEZVOUS_PORT"] == "30000"
    assert env["HOROVOD_CONTROLLER"] == env["HOROVOD_CPU_OPERATIONS"] == "gloo"
    assert env["HOROVOD_GLOO_IFACE"] == "lo"   # all hosts are this machine
    assert env["HOROVOD_TIMELINE"] == horovod.TIMELINE_FILE
    assert all(r.spec["size"] == 3 for r in ranks)
    assert plan.configs[0].hosts == ("h1", "h2")


def test_gloo_interface_on_remote_hosts_comes_from_the_configuration_or_labels(tmp_path):
    inv = {"hosts": [{"name": "a", "address": "10.0.0.1", "labels": {"network_interface": "ens5"}},
                     {"name": "b", "address": "10.0.0.2", "labels": {"network_interface": "ens5",
                                                                     "private_address": "172.31.0.2"}}]}
    t = tasks_of(plan_for(tmp_path, {"name": "hv", "strategy": "horovod", "workers": 2}, hosts=inv))
    assert t["worker-1"].env["HOROVOD_GLOO_IFACE"] == "ens5"
    assert t["worker-1"].env["HOROVOD_GLOO_RENDEZVOUS_ADDR"] == "10.0.0.1"
    inv["hosts"][0]["labels"] = {}
    t = tasks_of(plan_for(tmp_path, {"name": "hv", "strategy": "horovod", "workers": 2}, hosts=inv))
    assert "HOROVOD_GLOO_IFACE" not in t["worker-0"].env   # unknown: Gloo picks it
    t = tasks_of(plan_for(tmp_path, {"name": "hv", "strategy": "horovod", "workers": 2,
                                     "network_interface": "eth1"}, hosts=inv))
    assert t["worker-0"].env["HOROVOD_GLOO_IFACE"] == "eth1"


def test_mpi_plan_is_one_mpirun_task_plus_an_idle_task_per_other_host(tmp_path):
    plan = plan_for(tmp_path, {"name": "mpi", "strategy": "horovod", "workers": 3, "launcher": "mpi",
                               "hosts": ["h1", "h2"]})
    t = tasks_of(plan)
    assert set(t) == {"mpirun", "mpi-host-1"}
    run, peer = t["mpirun"], t["mpi-host-1"]
    assert run.role == "launcher" and run.finishes and run.host == "h1" and run.rank is None
    assert peer.role == "mpi_host" and not peer.finishes and peer.start_group < run.start_group
    c = run.spec["cluster"]
    assert [(x["host"], x["address"], x["ranks"], x["wdir"]) for x in c["contexts"]] == [
        ("h1", "localhost", 2, run.task_dir), ("h2", "localhost", 1, peer.task_dir)]
    assert "TF_USE_LEGACY_KERAS" in c["env_names"] and "HARNESS_RUN_ID" in c["env_names"]
    argv = mpi.mpirun_argv("/x/mpirun", run.spec.cluster.contexts, ["A", "B"], run.spec.cluster.ssh)
    assert argv[:3] == ["/x/mpirun", "--allow-run-as-root", "--oversubscribe"]
    assert argv[argv.index("--bind-to") + 1] == "none"
    assert ["-x", "A", "-x", "B"] == argv[argv.index("-x"):argv.index("-x") + 4]
    colon = argv.index(":")
    left, right = argv[argv.index("-np"):colon], argv[colon + 1:]
    assert left[:6] == ["-np", "2", "-H", "localhost:2", "-wdir", run.task_dir]
    assert right[:6] == ["-np", "1", "-H", "localhost:1", "-wdir", peer.task_dir]
    assert right[-4:] == ["-m", "harness.worker", "--task", "task.json"]
    assert mpi.hostfile(run.spec.cluster.contexts) == "localhost slots=2\nlocalhost slots=1\n"


def test_mpi_over_ssh_passes_port_and_user_and_requires_them_equal(tmp_path):
    inv = {"hosts": [{"name": "a", "address": "10.0.0.1", "port": 22},
                     {"name": "b", "address": "10.0.0.2", "port": 2222, "user": "u"},
                     {"name": "c", "address": "10.0.0.3", "port": 2222, "user": "u"}]}
    t = tasks_of(plan_for(tmp_path, {"name": "m", "strategy": "horovod", "workers": 3, "launcher": "mpi"}, hosts=inv))
    c = t["mpirun"].spec["cluster"]
    # The first host runs mpirun: its own ssh port does not matter.
    assert [x["address"] for x in c["contexts"]] == ["localhost", "10.0.0.2", "10.0.0.3"]
    argv = mpi.mpirun_argv("mpirun", t["mpirun"].spec.cluster.contexts, [], t["mpirun"].spec.cluster.ssh,
                           prefix="/opt/venv")
    assert argv[argv.index("plm_rsh_args") + 1] == "-p 2222 -l u"
    assert argv[argv.index("--prefix") + 1] == "/opt/venv"
    inv["hosts"][2]["port"] = 22
    with pytest.raises(ConfigError, match="ssh port and user"):
        plan_for(tmp_path, {"name": "m", "strategy": "horovod", "workers": 3, "launcher": "mpi"}, hosts=inv)


# -- parameter server and MultiWorkerMirrored -----------------------------------------------

def test_parameter_server_plan_places_ps_by_label_and_starts_servers_before_the_chief(tmp_path):
    plan = plan_for(tmp_path, {"name": "ps", "strategy": "parameter_server", "ps": 1, "workers": 2,
                               "hosts": ["h2", "h3"], "ps_hosts": ["role=ps"], "evaluator": True},
                    base_port=30100)
    t = tasks_of(plan)
    assert set(t) == {"chief", "ps-0", "worker-0", "worker-1", "evaluator"}
    # ps on the labelled host; workers fill h2's two slots first
    assert t["ps-0"].host == "h1" and t["worker-0"].host == "h2" and t["worker-1"].host == "h2"
    assert t["chief"].host == "h2" and t["chief"].finishes and t["chief"].rank is None
    for s in ("ps-0", "worker-0", "worker-1"):
        assert not t[s].finishes and t[s].critical and t[s].start_group < t["chief"].start_group
    assert not t["evaluator"].critical and t["evaluator"].host == "h2"
    assert t["evaluator"].spec["cluster"]["watch_dir"] == t["chief"].task_dir + "/checkpoints"
    configs = {k: json.loads(v.env["TF_CONFIG"]) for k, v in t.items()}
    cluster = configs["chief"]["cluster"]
    assert all(c["cluster"] == cluster for c in configs.values())
    assert configs["worker-1"]["task"] == {"type": "worker", "index": 1}
    assert configs["evaluator"]["task"] == {"type": "evaluator", "index": 0}
    addrs = cluster["chief"] + cluster["ps"] + cluster["worker"]
    assert len(set(addrs)) == 4 and all(a.startswith("127.0.0.1:3010") for a in addrs)
    assert sorted(p for v in t.values() for p in v.spec["ports"]) == [30100, 30101, 30102, 30103]
    assert plan.configs[0].hosts == ("h1", "h2")   # h3 selected but unused: not charged
    assert [v.rank for k, v in sorted(t.items()) if k.startswith("worker")] == [0, 1]


def test_parameter_server_placement_errors_name_the_configuration(tmp_path):
    with pytest.raises(ConfigError, match=r"configurations\[0\] \(ps\).*ps_hosts"):
        plan_for(tmp_path, {"name": "ps", "strategy": "parameter_server", "ps": 1, "ps_hosts": ["role=none"]})
    with pytest.raises(ConfigError, match="none is left for the workers"):
        plan_for(tmp_path, {"name": "ps", "strategy": "parameter_server", "ps": 1, "hosts": ["h1"],
                            "ps_hosts": ["h1"]})
    with pytest.raises(ConfigError, match="need 4 slots"):
        plan_for(tmp_path, {"name": "ps", "strategy": "parameter_server", "ps": 1, "workers": 4,
                            "ps_hosts": ["role=ps"]})


def test_mirrored_plan_gives_each_worker_tf_config(tmp_path):
    t = tasks_of(plan_for(tmp_path, {"name": "mw", "strategy": "mirrored", "workers": 3}, base_port=30200))
    cfgs = [json.loads(t[f"worker-{i}"].env["TF_CONFIG"]) for i in range(3)]
    assert cfgs[0]["cluster"] == {"worker": ["127.0.0.1:30200", "127.0.0.1:30201", "127.0.0.1:30202"]}
    assert [c["task"]["index"] for c in cfgs] == [0, 1, 2]
    assert [t[f"worker-{i}"].host for i in range(3)] == ["h1", "h1", "h2"]
    assert all(t[f"worker-{i}"].finishes and t[f"worker-{i}"].spec["size"] == 3 for i in range(3))


# -- ports ----------------------------------------------------------------------------------

def test_ports_never_collide_on_one_machine_across_configurations(tmp_path):
    plan = plan_for(tmp_path, {"name": "a", "strategy": "mirrored", "workers": 2},
                    {"name": "b", "strategy": "parameter_server", "ps": 1, "workers": 2},
                    {"name": "c", "strategy": "horovod", "workers": 2}, base_port=40000)
    ports = [p for cp in plan.configs for t in cp.tasks for p in t.spec.get("ports", [])]
    assert len(ports) == len(set(ports)) == 2 + 4 + 1 and min(ports) == 40000
    assert plan == plan_for(tmp_path, {"name": "a", "strategy": "mirrored", "workers": 2},
                            {"name": "b", "strategy": "parameter_server", "ps": 1, "workers": 2},
                            {"name": "c", "strategy": "horovod", "workers": 2}, base_port=40000)


def test_port_allocator_counts_per_machine():
    alloc = PortAllocator(5000)
    a, b = Host(name="a", address="10.0.0.1"), Host(name="b", address="10.0.0.2")
    loop1, loop2 = Host(name="l1", address="127.0.0.1", port=2201), Host(name="l2", address="localhost")
    local = Host(name="x", transport="local")
    assert [alloc.take(h) for h in (a, a, b, loop1, loop2, local)] == [5000, 5001, 5000, 5000, 5001, 5002]
    assert machine_key(loop1) == machine_key(local) == "localhost"
    with pytest.raises(ValueError):
        PortAllocator(80)
    full = PortAllocator(65535)
    full.take(a)
    with pytest.raises(ValueError, match="no port left"):
        full.take(a)


# -- experiment validation and the thread sweep ----------------------------------------------

def write_exp(tmp_path, configs, workload=WORKLOAD, name="e.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"name": "t", "workload": workload, "configurations": configs}, sort_keys=False))
    return p


def test_thread_sweep_expands_to_one_configuration_per_value(tmp_path):
    p = write_exp(tmp_path, [{"name": "cpu", "threads": {"intra_op": [1, 2, 4], "inter_op": [1, 2], "omp": 2}},
                             {"name": "plain", "threads": {"intra_op": 1}}])
    exp = load_experiment(p)
    names = [c.name for c in exp.configurations]
    assert names == ["cpu-intra_op1-inter_op1", "cpu-intra_op1-inter_op2", "cpu-intra_op2-inter_op1",
                     "cpu-intra_op2-inter_op2", "cpu-intra_op4-inter_op1", "cpu-intra_op4-inter_op2", "plain"]
    assert [(c.threads.intra_op, c.threads.inter_op, c.threads.omp) for c in exp.configurations[:2]] == [
        (1, 1, 2), (1, 2, 2)]
    data, origin = expand_sweeps({"configurations": [{"name": "x", "threads": {"kmp_affinity": ["a,b=1"]}}]})
    assert data["configurations"][0]["name"] == "x-kmp_affinitya_b_1" and origin[0][:2] == (0, {("threads", "kmp_affinity"): 0})


def test_sweep_errors_name_the_field_the_user_wrote(tmp_path):
    p = write_exp(tmp_path, [{"name": "ok", "threads": {"intra_op": 1}},
                             {"name": "cpu", "threads": {"intra_op": [1, -2], "inter_op": [1, 2]}},
                             {"name": "empty", "threads": {"omp": []}}])
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    lines = e.value.lines()
    assert len(lines) == 2, lines   # the bad value shows once, not once per swept copy
    assert lines[0].startswith(f"{p}: configurations[1].threads.intra_op[1]: Input should be greater than")
    assert "swept configuration 'cpu-intra_op-2-inter_op1'" in lines[0]
    assert lines[1].startswith(f"{p}: configurations[2].threads.omp: an empty list sweeps nothing")


@pytest.mark.parametrize("conf, message", [
    ({"strategy": "horovod", "workers": 2, "ps": 1}, "has no parameter servers"),
    ({"strategy": "parameter_server", "workers": 2}, "needs at least one ps"),
    ({"strategy": "mirrored", "workers": 2, "launcher": "mpi"}, "launcher: only for strategy horovod"),
    ({"strategy": "horovod", "workers": 2, "ps_hosts": ["a"]}, "ps_hosts: only for strategy parameter_server"),
    ({"strategy": "single", "horovod_timeline": True}, "horovod_timeline: only for strategy horovod"),
    ({"strategy": "horovod", "launcher": "ssh"}, "launcher"),
    ({"strategy": "ring"}, "unknown strategy"),
    ({"strategy": "parameter_server", "ps": 1, "threads": {"inter_op": [2, 1]}}, "inter_op: 1 deadlocks"),
])
def test_strategy_settings_are_validated_per_strategy(tmp_path, conf, message):
    p = write_exp(tmp_path, [{"name": "c", **conf}])
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    assert any(l.startswith(f"{p}: configurations[0]") and message in l for l in e.value.lines()), e.value.lines()


@pytest.mark.parametrize("workload, message", [
    ({"dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1}, "exactly one of 'model'"),
    ({"model": "mlp", "script": "s.py", "dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1},
     "exactly one of 'model'"),
    ({"script": "s.py", "metrics": {"loss": "loss (\\d+) (\\d+)"}}, "exactly one group"),
    ({"script": "s.py", "metrics": {"loss": "loss ([0-9"}}, "not a valid regular expression"),
    ({"script": "s.py", "metrics": {"speed": "(\\d+)"}}, "metrics.speed"),
    ({"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1, "args": ["x"]},
     "'args', 'metrics' and 'files' belong to a 'script'"),
    ({"model": "mlp", "dataset": {"name": "digits"}, "epochs": 1}, "needs 'batch_size'"),
    ({"script": "missing.py"}, "workload.script"),
])
def test_workload_is_a_model_or_a_script(tmp_path, workload, message):
    (tmp_path / "s.py").write_text("print('hi')\n")
    p = write_exp(tmp_path, [{"name": "c"}], workload=workload)
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    assert any(message in l for l in e.value.lines()), e.value.lines()


def test_script_path_is_resolved_relative_to_the_experiment(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    p = write_exp(tmp_path, [{"name": "c"}], workload={"script": "train.py", "args": ["--epochs", "2"],
                                                      "metrics": {"images_per_s": "([0-9.]+) img/s"}})
    exp = load_experiment(p)
    assert exp.workload.script == str(tmp_path / "train.py") and exp.workload.model is None
    plan = build_plan(exp, Inventory.model_validate(HOSTS), "r", tmp_path / "r")
    task = [t for t in plan.configs[0].tasks if t.role == "worker"][0]
    assert task.spec["workload"]["args"] == ["--epochs", "2"]


def test_example_experiments_load_and_plan():
    root = Path(__file__).resolve().parents[2]
    from harness.config import load_inventory

    inv = load_inventory(root / "hosts" / "local.yaml")
    for name in ("strategies.yaml", "thread_sweep.yaml"):
        exp = load_experiment(root / "experiments" / name)
        plan = build_plan(exp, inv, "r", Path("/tmp/none"))
        assert len(plan.configs) == len(exp.configurations) >= 4
    strategies = {c.strategy for c in load_experiment(root / "experiments" / "strategies.yaml").configurations}
    assert strategies == {"single", "horovod", "parameter_server", "mirrored"}


# -- Horovod timeline ------------------------------------------------------------------------

def _timeline(steps: int) -> list[dict]:
    """Two fused tensors per step: negotiation 0-100 us, all-reduce 100-300 us (tensor 2's
    nested in the same window), then 700 us of compute; one broadcast at the start."""
    ev = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "grad_a"}},
          {"name": "process_name", "ph": "M", "pid": 2, "args": {"name": "grad_b"}},
          {"name": "process_name", "ph": "M", "pid": 3, "args": {"name": "bcast_w"}},
          {"ph": "B", "name": "BROADCAST", "ts": 0, "pid": 3}, {"ph": "E", "ts": 50, "pid": 3}]
    for s in range(steps):
        t = 1000 + s * 1000
        for pid in (1, 2):
            ev += [{"ph": "B", "name": "NEGOTIATE_ALLREDUCE", "ts": t, "pid": pid},
                   {"ph": "X", "name": "0", "ts": t, "pid": pid, "dur": 0},
                   {"ph": "E", "ts": t + 100, "pid": pid},
                   {"ph": "B", "name": "ALLREDUCE", "ts": t + 100, "pid": pid},
                   {"ph": "B", "name": "GLOO_ALLREDUCE", "ts": t + 120, "pid": pid},
                   {"ph": "E", "ts": t + 280, "pid": pid},
                   {"ph": "E", "ts": t + 300, "pid": pid}]
    return ev


def test_timeline_summary_counts_steps_and_unions_fused_tensors(tmp_path):
    from harness.report.figures.horovod_timeline import timeline_summary

    p = tmp_path / "horovod_timeline.json"
    p.write_text(json.dumps(_timeline(4)))
    s = timeline_summary(p)
    assert s["steps"] == 4 and s["tensors"] == 3
    assert s["allreduce_s"] == pytest.approx(4 * 200e-6)          # two tensors, same window
    assert s["allreduce_tensor_sum_s"] == pytest.approx(2 * 4 * 200e-6)
    assert s["negotiation_per_step_s"] == pytest.approx(100e-6)
    assert s["communication_s"] == pytest.approx(4 * 300e-6 + 50e-6)
    assert s["activities"]["GLOO_ALLREDUCE"] == {"count": 8, "total_s": pytest.approx(8 * 160e-6)}
    assert s["unfinished_activities"] == 0 and "union" in s["method"]


def test_timeline_per_step_and_only_some_tensors(tmp_path):
    from harness.report.figures.horovod_timeline import timeline_summary

    p = tmp_path / "horovod_timeline.json"
    p.write_text(json.dumps(_timeline(3)))
    s = timeline_summary(p, only="grad")       # the broadcast tensor is left out
    assert s["tensors"] == 3 and s["communication_s"] == pytest.approx(3 * 300e-6)
    assert s["negotiation_by_step_s"] == pytest.approx([100e-6] * 3)
    assert s["allreduce_by_step_s"] == pytest.approx([200e-6] * 3)
    assert timeline_summary(p, only="grad_b")["allreduce_s"] == pytest.approx(3 * 200e-6)


def test_timeline_cut_off_by_a_killed_process_is_read_to_its_last_record(tmp_path):
    from harness.report.figures.horovod_timeline import timeline_summary

    text = "[\n" + ",\n".join(json.dumps(r) for r in _timeline(3))
    p = tmp_path / "t.json"
    p.write_text(text[: text.rindex('{"ph": "E"') + 12])   # no closing bracket, torn last record
    s = timeline_summary(p)
    assert s["steps"] == 3 and s["unfinished_activities"] == 1   # tensor 2 never closed its last ALLREDUCE
    assert timeline_summary(tmp_path / "missing.json")["error"].startswith("cannot read")


# -- worker-side dispatch (no TensorFlow) ------------------------------------------------------

def test_a_process_mpirun_started_is_a_training_rank_with_its_own_events_file(monkeypatch):
    from harness.protocol.spec import TaskSpec
    from harness.worker import mpi, servers

    def task(**kw):   # a hand-made spec: what the worker is given
        return TaskSpec(**{"run_id": "r", "experiment": "e", "config": "c", "task_id": "t", "host": "h", **kw})

    spec = task(role="mpi_host", strategy="horovod", checkpoint_dir="checkpoints", rank=None)
    monkeypatch.delenv("OMPI_COMM_WORLD_RANK", raising=False)
    monkeypatch.delenv("PMIX_RANK", raising=False)
    assert mpi.as_mpi_rank(spec) is spec and servers.is_server(spec)
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    rank = mpi.as_mpi_rank(spec)
    assert rank["role"] == "worker" and rank["rank"] == 3 and rank["events"] == "events-rank3.jsonl"
    assert rank["checkpoint_dir"] == "checkpoints" and not servers.is_server(rank)
    ps = {"role": "ps", "strategy": "parameter_server", "workload": {"model": "mlp"}}
    assert servers.is_server(task(**ps))
    assert not servers.is_server(task(**{**ps, "workload": {"script": "x.py"}}))   # the script plays the ps
    assert servers.is_server(task(**{**ps, "role": "evaluator"}))
    assert not servers.is_server(task(**{**ps, "role": "evaluator", "workload": {"script": "x.py"}}))
