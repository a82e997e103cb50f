"""`harness run` over real SSH test hosts: code sync, hostile names and paths, a task
killed on one host stopping every other host's tasks, stop requests, dead hosts."""

import shlex
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.config.inventory import Host
from harness.errors import HarnessError
from harness.protocol.events import EventLog, read_events
from harness.stages.launch import Supervisor
from harness.pipeline import run_experiment
from harness.stages.plan import ConfigPlan, Task
from harness.protocol.spec import TaskSpec
from harness.transport.ssh import SSHOptions, SSHTransport
from tests.support.fresh_process import run_fresh
from tests.support.sshd_hosts import inventory_dict, write_known_hosts

pytestmark = [pytest.mark.slow]

HOSTILE = ['gpu "a"; echo pwned', "cpu 'b' $(x)"]

EXPERIMENT = {
    "name": "remote",
    "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 1,
                 "learning_rate": 0.1, "optimizer": "momentum", "warmup_steps": 2},
    "configurations": [{"name": "on-a", "hosts": [HOSTILE[0]], "threads": {"intra_op": 1}},
                       {"name": "on-b", "hosts": [HOSTILE[1]], "threads": {"intra_op": 1}}],
    "sample_interval_s": 0.5,
}


def setup_files(tmp_path, hosts, names=HOSTILE, experiment=EXPERIMENT, workdir=None):
    inv = inventory_dict(hosts, python=sys.executable, workdir=workdir or str(tmp_path / "work dir 'x'; y"))
    for i, (entry, name) in enumerate(zip(inv["hosts"], names)):
        entry["name"] = name
        entry["workdir"] = f"{inv['defaults']['workdir']}/{i}"   # hosts have their own disks
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(inv))
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment))
    opts = SSHOptions(known_hosts=write_known_hosts(hosts, tmp_path / "known_hosts"), ssh_config=None,
                      harness_known_hosts=tmp_path / "harness_known_hosts")
    return str(tmp_path / "exp.yaml"), str(tmp_path / "hosts.yaml"), opts


def run_leftovers(run_id: str) -> list[int]:
    out = subprocess.run(["sh", "-c", f"grep -l -a -F -x -z HARNESS_RUN_ID={run_id} /proc/[0-9]*/environ "
                          "2>/dev/null | cut -d/ -f3"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_two_host_run_with_hostile_names_syncs_once_and_collects(sshd_hosts, tmp_path):
    exp, inv, opts = setup_files(tmp_path, sshd_hosts[:2])
    res = run_experiment(exp, inv, runs_root=str(tmp_path / "runs"), run_id="r1", ssh_options=opts)
    assert res.status == "succeeded", res.reason
    run = tmp_path / "runs" / "r1"
    for cfg, host in (("on-a", HOSTILE[0]), ("on-b", HOSTILE[1])):
        task = run / "hosts" / host / cfg / "worker-0"
        events = list(read_events(task / "events.jsonl"))
        assert events[-1]["event"] == "run_end" and events[-1]["status"] == "ok"
        assert (task / "exit_code").read_text().strip() == "0"
        assert not (task / "env.sh").exists()
    assert sorted(p.name for p in (run / "hosts").iterdir()) == sorted(HOSTILE)
    syncs = [e for e in read_events(run / "control.jsonl") if e["event"] == "sync"]
    assert {e["host"] for e in syncs} == set(HOSTILE[:2]) and all(e["uploaded_bytes"] > 0 for e in syncs)
    # A second run reuses the bundle already on the hosts.
    res2 = run_experiment(exp, inv, runs_root=str(tmp_path / "runs"), run_id="r2", ssh_options=opts)
    assert res2.status == "succeeded", res2.reason
    syncs2 = [e for e in read_events(tmp_path / "runs" / "r2" / "control.jsonl") if e["event"] == "sync"]
    assert all(e["uploaded_bytes"] == 0 and e["reused"] == ["code"] for e in syncs2)
    assert "succeeded" in (run / "results.csv").read_text()


def test_the_report_after_a_run_starts_with_no_other_thread_alive(sshd_hosts, tmp_path):
    """The run's SSH connections and their reader threads are gone before its report is
    written, so `harness run` may draw its report on two cores (report/read/forked.py) as
    `harness report` does. A fresh interpreter: the test session has threads of its own."""
    exp, inv, opts = setup_files(tmp_path, sshd_hosts[:2])
    out = run_fresh(f"""
        import threading
        from pathlib import Path
        import harness.report.write.render as render
        from harness.pipeline import run_experiment
        from harness.report.read.forked import can_fork
        from harness.transport.ssh import SSHOptions

        real = render.write_report
        def spy(run_dir, **kw):
            print("at report:", sorted(t.name for t in threading.enumerate()), can_fork())
            return real(run_dir, **kw)
        render.write_report = spy
        opts = SSHOptions(known_hosts=Path({str(opts.known_hosts)!r}), ssh_config=None,
                          harness_known_hosts=Path({str(opts.harness_known_hosts)!r}))
        res = run_experiment({exp!r}, {inv!r}, runs_root={str(tmp_path / "runs")!r}, run_id="t", ssh_options=opts)
        print("status:", res.status, len(res.report_files))
    """)
    assert "at report: ['MainThread'] True" in out, out
    assert "status: succeeded" in out and (tmp_path / "runs" / "t" / "report.md").is_file()


def test_unreachable_host_is_a_clean_error_before_anything_starts(sshd_hosts, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed_port = s.getsockname()[1]
    s.close()
    exp, inv, opts = setup_files(tmp_path, sshd_hosts[:2])
    data = yaml.safe_load(Path(inv).read_text())
    data["hosts"][1]["port"] = closed_port
    Path(inv).write_text(yaml.safe_dump(data))
    with pytest.raises(HarnessError) as ei:
        run_experiment(exp, inv, runs_root=str(tmp_path / "runs"), run_id="r", ssh_options=opts)
    assert HOSTILE[1] in str(ei.value) and f"127.0.0.1:{closed_port}" in str(ei.value)
    assert "nothing was started" in str(ei.value)
    assert not (tmp_path / "runs").exists()


FAKE = """#!{python}
import json, os, subprocess, sys, time
spec = json.load(open("task.json"))
subprocess.Popen(["sleep", "300"])   # a child that must die with the task
time.sleep(300)
"""


def test_kill_9_on_one_host_stops_every_task_on_every_host(sshd_hosts, tmp_path):
    script = tmp_path / "fake python"
    script.write_text(FAKE.format(python=sys.executable))
    script.chmod(0o755)
    run_id = f"kill-{os.getpid()}"
    opts = SSHOptions(known_hosts=write_known_hosts(sshd_hosts, tmp_path / "kh"), ssh_config=None,
                      harness_known_hosts=tmp_path / "hk")
    hosts, transports, tasks = {}, {}, []
    for i, th in enumerate(sshd_hosts[:3]):
        h = Host(name=f"h{i}", address=th.address, port=th.port, user=th.user, key=str(th.key_path),
                 python=str(script), workdir=str(tmp_path / f"w{i}"))
        hosts[h.name], transports[h.name] = h, SSHTransport(h, opts)
        for k in range(2):
            tasks.append(Task(config="c", task_id=f"w{k}", role="worker", index=k, rank=2 * i + k, host=h.name,
                              task_dir=str(tmp_path / f"w{i}" / f"t{k}"), env={"HARNESS_RUN_ID": run_id},
                              spec=TaskSpec(run_id=run_id, experiment="e", config="c", strategy="fake",
                                            task_id=f"w{k}", role="worker", host=h.name)))
    cp = ConfigPlan("c", "fake", tuple(hosts), tuple(tasks), 120)
    control = EventLog(tmp_path / "control.jsonl")
    sup = Supervisor(cp, transports, hosts, control, threading.Event(), poll_interval=0.2, grace_s=5)
    killed_at = []

    def kill_one():
        pidfile = tmp_path / "w1" / "t0" / "pid"
        while not pidfile.exists():
            time.sleep(0.05)
        time.sleep(1.0)
        leader = int(pidfile.read_text())
        kids = subprocess.run(["pgrep", "-P", str(leader)], capture_output=True, text=True).stdout.split()
        # The task's process, not the lease watchdog (a subshell, also a child of the leader).
        child = next(int(k) for k in kids if not open(f"/proc/{k}/cmdline", "rb").read().startswith(b"/bin/sh"))
        killed_at.append(time.monotonic())
        os.kill(child, 9)

    threading.Thread(target=kill_one, daemon=True).start()
    out = sup.run()
    stopped_in = time.monotonic() - killed_at[0]
    for tr in transports.values():
        tr.close()
    assert out.status == "failed" and "task w0 on host h1 exited 137" in out.reason
    assert stopped_in < 10, stopped_in
    assert {s.state for s in out.tasks if (s.task.host, s.task.task_id) != ("h1", "w0")} == {"stopped"}
    assert out.leftovers == {} and run_leftovers(run_id) == []


def test_stop_request_over_ssh_stops_and_keeps_partial_results(sshd_hosts, tmp_path):
    long = {**EXPERIMENT, "workload": {**EXPERIMENT["workload"], "epochs": 500},
            "configurations": [{"name": "long", "hosts": [HOSTILE[0]]}]}
    exp, inv, opts = setup_files(tmp_path, sshd_hosts[:1], experiment=long, workdir=str(tmp_path / "wd"))
    stop = threading.Event()
    events = tmp_path / "wd" / "0" / "runs" / "r" / "long" / "worker-0" / "events.jsonl"

    def stopper():
        while not (events.exists() and '"event": "step"' in events.read_text()):
            time.sleep(0.1)
        stopper.t = time.monotonic()
        stop.set()

    threading.Thread(target=stopper, daemon=True).start()
    res = run_experiment(exp, inv, runs_root=str(tmp_path / "runs"), run_id="r", ssh_options=opts, stop=stop,
                         grace_s=5)
    took = time.monotonic() - stopper.t
    assert res.status == "stopped" and res.leftovers == {} and run_leftovers("r") == []
    assert took < 15, took
    collected = tmp_path / "runs" / "r" / "hosts" / HOSTILE[0] / "long" / "worker-0" / "events.jsonl"
    assert '"event": "step"' in collected.read_text()
    assert "stopped" in (tmp_path / "runs" / "r" / "report.md").read_text()


def test_hosts_sharing_a_workdir_sync_safely(sshd_hosts, tmp_path):
    """Hosts on one NFS workdir (or two runs at once) unpack the same bundle concurrently."""
    from harness.stages.bundle import build_bundle
    from harness.stages.sync import sync_host
    from harness.transport.fanout import fan_out

    opts = SSHOptions(known_hosts=write_known_hosts(sshd_hosts, tmp_path / "kh"), ssh_config=None,
                      harness_known_hosts=tmp_path / "hk")
    shared = str(tmp_path / "shared")
    hosts = [Host(name=f"s{i}", address=t.address, port=t.port, user=t.user, key=str(t.key_path), workdir=shared)
             for i, t in enumerate(sshd_hosts) for _ in range(2)]
    hosts = [h.model_copy(update={"name": f"s{i}"}) for i, h in enumerate(hosts)]
    transports = {h.name: SSHTransport(h, opts) for h in hosts}
    bundle = build_bundle()
    results = fan_out({h.name: h for h in hosts}, lambda h: sync_host(transports[h.name], h, bundle, None))
    for tr in transports.values():
        tr.close()
    assert all(o.ok for o in results.values()), [str(o.error) for o in results.values()]
    code = Path(shared) / "bundles" / bundle.digest
    assert (code / ".complete").exists() and (code / "harness" / "worker" / "train.py").exists()
    assert not [p for p in Path(shared, "bundles").iterdir() if p.name != bundle.digest]


def test_check_over_ssh_in_parallel(sshd_hosts, tmp_path, capsys):
    from harness.cli import main

    exp, inv, opts = setup_files(tmp_path, sshd_hosts[:3], names=["a", "b", "c"])
    data = yaml.safe_load(Path(inv).read_text())
    data["hosts"][2]["python"] = "/no/such/python"
    Path(inv).write_text(yaml.safe_dump(data))
    rc = main(["check", "--hosts", inv, "--known-hosts", str(opts.known_hosts)])
    out = capsys.readouterr()
    assert rc == 1 and "1 of 3 host(s) not ready: c" in out.err
    assert out.out.count("2.17.1") == 2 and "probe failed with exit 127" in out.out


def test_hosts_setup_makes_a_venv_on_the_host(sshd_hosts, tmp_path):
    from harness.preflight.hostsetup import setup_host

    opts = SSHOptions(known_hosts=write_known_hosts(sshd_hosts, tmp_path / "kh"), ssh_config=None,
                      harness_known_hosts=tmp_path / "hk")
    t = sshd_hosts[0]
    h = Host(name="s", address=t.address, port=t.port, user=t.user, key=str(t.key_path), workdir=str(tmp_path / "w d"))
    with SSHTransport(h, opts) as tr:
        # A tiny package stands in for the pinned training set, which takes minutes to install.
        python = setup_host(tr, h, ["six"])
        assert python == str(tmp_path / "w d" / "venv" / "bin" / "python")
        assert tr.exec(f"{shlex.quote(python)} -c 'import six'").ok
        from harness.errors import HarnessError

        with pytest.raises(HarnessError, match="host s: setup failed"):
            setup_host(tr, h, ["no-such-package-harness-xyz==0"])
