"""Detached runs on sandbox hosts that share nothing with the control side (network and
mount namespaces: `sandbox up --private-dirs`), driven through the real CLI in
subprocesses so the control side can be killed with SIGKILL:

- a detached run survives kill -9 of the attached control side; a second attach is
  refused while one is attached; `harness status` shows the run; an attach from a fresh
  runs root and a fresh HOME (another machine with the inventory and the keys) finds the
  run on its steward and collects a complete report (every planned step), like an
  undetached run of the same plan;
- the first failure (a rank that exits 1 on one host) stops every task of the run on
  every host, with nothing left in either namespace, and the report says why;
- the control side killed during launch and again during collection loses nothing;
- `harness stop` stops a detached run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness import sandbox
from harness.protocol import exits, layout
from harness.protocol.events import read_events
from harness.sandbox import faults, netns, sshd
from harness.transport.ssh import SSHOptions

ROOT = Path(__file__).resolve().parents[2]
LOOP = ROOT / "tests" / "scripts" / "detach_loop.py"


def _unavailable():
    if os.geteuid() != 0:
        return "needs root: network namespaces and mount namespaces"
    return netns.netns_unavailable_reason() or sshd.available()


pytestmark = [pytest.mark.slow, pytest.mark.root, pytest.mark.netns,
              pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))]

TINY = {
    "name": "detach",
    "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 60,
                 "learning_rate": 0.1, "optimizer": "momentum", "warmup_steps": 2},
    "configurations": [{"name": "one", "strategy": "single", "hosts": ["sb0"], "threads": {"intra_op": 1}},
                       {"name": "two", "strategy": "single", "hosts": ["sb1"], "threads": {"intra_op": 1}}],
    "sample_interval_s": 0.5,
}


@pytest.fixture(scope="module")
def private_sb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("detachsb")
    d, inv = tmp / "sb", tmp / "sandbox.yaml"
    st = sandbox.up(sandbox.UpRequest(hosts=2, bandwidth=None, directory=str(d), out=str(inv), private_dirs=True))
    st.opts = SSHOptions(known_hosts=Path(st.files[0]), ssh_config=None, harness_known_hosts=tmp / "hk")
    st.tmp = tmp
    # a price per host (the sandbox's own inventory has none), so status shows a cost
    doc = yaml.safe_load(inv.read_text())
    doc["defaults"]["price_per_hour"] = 0.5
    st.inv = str(tmp / "priced.yaml")
    Path(st.inv).write_text(yaml.safe_dump(doc))
    yield st
    sandbox.down(d)


def _env(home: Path | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_USE_LEGACY_KERAS": "1"}
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)
    return env


def _argv(sb, *args) -> list[str]:
    return [sys.executable, "-m", "harness", *args, "--known-hosts", sb.files[0]]


def harness(sb, *args, cwd: Path, home: Path | None = None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(_argv(sb, *args), cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=timeout)


def spawn(sb, *args, cwd: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(_argv(sb, *args), cwd=cwd, env=_env(), stdout=open(out, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill9(p: subprocess.Popen) -> None:
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(30)


def host_run(sb, host: str, run_id: str) -> Path:
    return Path(sb.host(host).workdir) / "runs" / run_id


def keeper_dir(sb, host: str, run_id: str) -> Path:
    return host_run(sb, host, run_id) / layout.KEEPER_DIR / host


def left_in_namespaces(sb) -> dict[str, list[int]]:
    """Every process in each host's namespace but its sshd: tasks, samplers, keepers, children."""
    return {h.name: faults.task_pids(h) for h in sb.hosts if faults.task_pids(h)}


def steps(events: Path) -> list[int]:
    return [r["step"] for r in read_events(events) if r.get("event") == "step"]


def planned_steps(events: Path) -> int:
    ready = next(r for r in read_events(events) if r.get("event") == "phase" and r.get("name") == "data_ready")
    return ready["steps_per_epoch"] * TINY["workload"]["epochs"]


def control(run_dir: Path) -> list[dict]:
    return list(read_events(run_dir / layout.CONTROL_FILE))


def check_complete(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Every configuration run succeeded with every planned step collected, each task
    launched once, collected once; returns {config: (steps collected, planned)}."""
    recs = control(run_dir)
    assert [r["status"] for r in recs if r["event"] == "run_end"] == ["succeeded"], recs[-3:]
    launches = [(r["config"], r["task_id"]) for r in recs if r["event"] == "task_launch"]
    assert len(launches) == len(set(launches)) == 4
    assert sorted(r["config"] for r in recs if r["event"] == "collected") == ["one", "two"]
    out = {}
    for config, host in (("one", "sb0"), ("two", "sb1")):
        ev = run_dir / "hosts" / host / config / "worker-0" / layout.EVENTS_FILE
        got = steps(ev)
        assert got and got[-1] == planned_steps(ev) and got == sorted(set(got)), (config, got[-3:])
        out[config] = (got[-1], planned_steps(ev))
    assert (run_dir / "report.md").is_file() and (run_dir / "results.csv").is_file()
    return out


def _write(path: Path, doc: dict) -> str:
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_a_detached_run_survives_kill_9_and_attach_from_another_machine_reports_it(private_sb, tmp_path):
    sb, run_id = private_sb, f"det-{os.getpid()}"
    exp = _write(tmp_path / "exp.yaml", TINY)
    t0 = time.monotonic()
    res = harness(sb, "run", "-e", exp, "--hosts", sb.inv, "--runs-dir", "runs", "--run-id", run_id,
                  "--detach", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"run {run_id} detached: every task of the first configuration run is running" in res.stdout
    print(f"harness run --detach returned after {time.monotonic() - t0:.1f} s")
    run_dir = tmp_path / "runs" / run_id
    assert (run_dir / layout.DETACH_FILE).is_file()

    first = spawn(sb, "attach", run_id, "--runs-dir", "runs", cwd=tmp_path, out=tmp_path / "attach1.out")
    events = host_run(sb, "sb0", run_id) / "one" / "worker-0" / layout.EVENTS_FILE
    assert netns.wait_for(lambda: events.exists() and len(steps(events)) >= 5, 300), "no training"
    # mid-training: status of every run and of this one; a second attach is refused
    lst = harness(sb, "status", "--runs-dir", "runs", cwd=tmp_path)
    assert lst.returncode == 0 and run_id in lst.stdout and "running" in lst.stdout, lst.stdout + lst.stderr
    one = harness(sb, "status", run_id, "--runs-dir", "runs", cwd=tmp_path)
    assert one.returncode == 0 and "sb0/worker-0: running" in one.stdout and "images/s" in one.stdout
    assert "cost so far: $" in one.stdout
    print("status:\n" + lst.stdout + one.stdout)
    second = harness(sb, "attach", run_id, "--runs-dir", "runs", cwd=tmp_path, timeout=120)
    assert second.returncode == exits.BUSY, second.stdout + second.stderr
    refusal = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(refusal) == 1 and "is already attached" in refusal[0], second.stderr
    print(f"second attach: {refusal[0]}")

    kill9(first)   # the control side dies mid-training
    before = len(steps(events))
    assert netns.wait_for(lambda: len(steps(events)) > before + 5, 120), "training stopped with the control side"
    # another machine: a fresh runs root and HOME; the inventory and the keys are all it has
    other = tmp_path / "other"
    other.mkdir()
    last = harness(sb, "attach", run_id, "--hosts", sb.inv, "--runs-dir", "fresh-runs", cwd=other,
                   home=other / "home")
    assert last.returncode == 0, last.stdout[-3000:] + last.stderr[-3000:]
    assert f"run {run_id} found on host sb0" in last.stdout
    figures = check_complete(other / "fresh-runs" / run_id)
    print(f"steps collected vs planned: {figures}")
    assert left_in_namespaces(sb) == {}

    # the same plan undetached: the same configurations, steps and statuses
    from harness.pipeline import run_experiment
    from harness.report.figures.metrics import compute_metrics
    from harness.report.read.rundir import load_run

    plain = run_experiment(exp, sb.inv, runs_root=str(tmp_path / "runs"), run_id=f"{run_id}-plain",
                           ssh_options=sb.opts)
    assert plain.status == "succeeded", plain.reason
    a = {m.config: m for m in compute_metrics(load_run(other / "fresh-runs" / run_id))}
    b = {m.config: m for m in compute_metrics(load_run(plain.run_dir))}
    assert sorted(a) == sorted(b) == ["one", "two"]
    for c in a:
        assert a[c].status == b[c].status == "succeeded"
        print(f"{c}: detached {a[c].throughput_images_per_s:.0f} ± {a[c].throughput_ci95_half_width_images_per_s:.0f}"
              f" images/s, undetached {b[c].throughput_images_per_s:.0f} ± "
              f"{b[c].throughput_ci95_half_width_images_per_s:.0f} images/s")


def test_the_first_failure_stops_every_task_of_a_detached_run(private_sb, tmp_path):
    sb, run_id = private_sb, f"detfail-{os.getpid()}"
    exp = _write(tmp_path / "exp.yaml", {
        "name": "detfail",
        "workload": {"script": str(LOOP), "batch_size": 32,
                     "metrics": {"images_per_s": r"iter \d+: ([0-9.]+) img/sec"}},
        "configurations": [{"name": "pair", "strategy": "mirrored", "workers": 2, "hosts": ["sb0", "sb1"],
                            "env": {"FAIL_RANK": "1", "FAIL_AFTER_S": "10"}}],
        "sample_interval_s": 0.5})
    res = harness(sb, "run", "-e", exp, "--hosts", sb.inv, "--runs-dir", "runs", "--run-id", run_id,
                  "--detach", "--grace", "3", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    code = host_run(sb, "sb1", run_id) / "pair" / "worker-1" / layout.EXIT_CODE_FILE
    assert netns.wait_for(code.exists, 120), "the failing rank never exited"
    failed_at = code.stat().st_mtime
    assert netns.wait_for(lambda: not left_in_namespaces(sb), 120), left_in_namespaces(sb)
    took = time.time() - failed_at
    print(f"time from the failing rank's exit to nothing of the run left on either host: {took:.1f} s "
          f"(grace 3 s)")
    att = harness(sb, "attach", run_id, "--runs-dir", "runs", cwd=tmp_path)
    assert att.returncode == exits.RUN_FAILED, att.stdout + att.stderr
    assert "task worker-1 on host sb1 exited 1: RuntimeError: injected failure on rank 1" in att.stderr
    recs = control(tmp_path / "runs" / run_id)
    end = next(r for r in recs if r["event"] == "config_end")
    assert end["status"] == "failed" and end["leftovers"] == {}
    states = {(r["host"], r["task_id"]): r["state"] for r in recs if r["event"] == "task_exit"}
    assert states[("sb1", "worker-1")] == "failed" and states[("sb0", "worker-0")] == "stopped"
    assert states[("sb0", "sampler")] == states[("sb1", "sampler")] == "stopped"


def test_killed_during_launch_and_during_collection_nothing_is_lost(private_sb, tmp_path):
    sb, run_id = private_sb, f"detkill-{os.getpid()}"
    exp = _write(tmp_path / "exp.yaml", TINY)
    seed = keeper_dir(sb, "sb0", run_id) / layout.SEED_DIR / layout.DETACH_FILE
    launch = spawn(sb, "run", "-e", exp, "--hosts", sb.inv, "--runs-dir", "runs", "--run-id", run_id,
                   "--detach", cwd=tmp_path, out=tmp_path / "launch.out")
    assert netns.wait_for(lambda: seed.exists() or launch.poll() is not None, 600, interval=0.005)
    assert launch.poll() is None, (tmp_path / "launch.out").read_text()
    kill9(launch)   # during launch: the steward has its seed; `ready` and the keepers may not be there yet
    kd = keeper_dir(sb, "sb0", run_id)
    print(f"killed during launch: ready {(kd / layout.KEEPER_READY_FILE).exists()}, "
          f"steward's keeper started {(kd / layout.KEEPER_PID_FILE).exists()}")

    run_dir = tmp_path / "runs" / run_id
    out = tmp_path / "attach1.out"
    att = spawn(sb, "attach", run_id, "--runs-dir", "runs", cwd=tmp_path, out=out)
    one = run_dir / "hosts" / "sb0" / "one" / "worker-0"
    assert netns.wait_for(lambda: one.exists() or att.poll() is not None, 900, interval=0.005)
    assert att.poll() is None, out.read_text()
    kill9(att)      # during the collection of the first configuration run
    print("attach output:\n" + "\n".join(line for line in out.read_text().splitlines() if line.startswith("harness")))
    print("killed during collection; collected so far: " + ", ".join(sorted(p.name for p in one.iterdir())))
    again = harness(sb, "attach", run_id, "--runs-dir", "runs", cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    figures = check_complete(run_dir)
    print(f"steps collected vs planned: {figures}")
    assert left_in_namespaces(sb) == {}


def test_harness_stop_stops_a_detached_run(private_sb, tmp_path):
    sb, run_id = private_sb, f"detstop-{os.getpid()}"
    exp = _write(tmp_path / "exp.yaml", {
        "name": "detstop", "workload": {"script": str(LOOP), "batch_size": 32,
                                        "metrics": {"images_per_s": r"iter \d+: ([0-9.]+) img/sec"}},
        "configurations": [{"name": "a", "strategy": "single", "hosts": ["sb1"]},
                           {"name": "b", "strategy": "single", "hosts": ["sb0"]}]})
    res = harness(sb, "run", "-e", exp, "--hosts", sb.inv, "--runs-dir", "runs", "--run-id", run_id,
                  "--detach", "--grace", "3", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    stop = harness(sb, "stop", run_id, "--runs-dir", "runs", cwd=tmp_path)
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
    assert netns.wait_for(lambda: not left_in_namespaces(sb), 60), left_in_namespaces(sb)
    att = harness(sb, "attach", run_id, "--runs-dir", "runs", cwd=tmp_path)
    assert att.returncode == exits.SIGINT, att.stdout + att.stderr
    recs = control(tmp_path / "runs" / run_id)
    assert [r["config"] for r in recs if r["event"] == "config_start"] == ["a"]   # b never started
    end = next(r for r in recs if r["event"] == "run_end")
    assert end["status"] == "stopped" and "harness stop by" in end["reason"]
    st = harness(sb, "status", run_id, "--runs-dir", "runs", cwd=tmp_path)
    assert "reported (stopped)" in st.stdout, st.stdout + st.stderr
    reg = [json.loads(line) for line in (tmp_path / "runs" / layout.REGISTRY_FILE).read_text().splitlines()]
    assert [r["state"] for r in reg if r["run_id"] == run_id] == ["detached", "attached", "reported"]
