"""A host that the control side cannot reach for a while: shorter than the connection grace
it is a blip (the run goes on, nothing restarted, no record lost); longer, the run fails as
before and the host's tasks stop themselves when their lease runs out.

The outage is one-way and touches only the control side: a blackhole route to the bridge
address inside the host's namespace (`harness sandbox fault HOST cut-control`), so the host
still reaches the other hosts, as when the laptop running the harness changes networks."""

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness import sandbox
from harness.pipeline import run_experiment
from harness.protocol import layout
from harness.protocol.events import read_events
from harness.sandbox import netns, sshd
from harness.transport.ssh import SSHOptions


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root: network namespaces and routes (CI runs the suite as root)"
    return netns.netns_unavailable_reason() or sshd.available()


pytestmark = [pytest.mark.slow, pytest.mark.root, pytest.mark.netns,
              pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))]

TINY = {
    "name": "blip",
    "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 100000,
                 "learning_rate": 0.1, "optimizer": "momentum", "warmup_steps": 2},
    "configurations": [{"name": "one", "strategy": "single", "hosts": ["sb0"], "threads": {"intra_op": 1}}],
    "sample_interval_s": 0.5,
}


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blips")
    st = sandbox.up(sandbox.UpRequest(hosts=2, bandwidth="none", directory=str(tmp / "sb"),
                                      out=str(tmp / "sandbox.yaml"), known_hosts=str(tmp / "known_hosts")))
    st.opts = SSHOptions(known_hosts=Path(st.files[0]), ssh_config=None, harness_known_hosts=tmp / "hk")
    yield st
    sandbox.down(str(tmp / "sb"))


def _start(sb, tmp_path, run_id: str, **options):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(TINY))
    result, stop = {}, threading.Event()
    th = threading.Thread(target=lambda: result.update(r=run_experiment(
        str(exp), sb.files[1], runs_root=str(tmp_path / "runs"), run_id=run_id, ssh_options=sb.opts, stop=stop,
        grace_s=3, **options)), daemon=True)
    th.start()
    events = Path(sb.host("sb0").workdir) / "runs" / run_id / "one" / "worker-0" / "events.jsonl"
    assert netns.wait_for(lambda: events.exists() and '"event": "step"' in events.read_text(), 90), "no steps"
    return th, stop, result, events


def _steps(events: Path) -> list[dict]:
    return [r for r in read_events(events) if r["event"] == "step"]


def _reaches(sb, src: str, dst: str) -> bool:
    """A TCP connection from host `src`'s namespace to `dst`'s sshd."""
    h = sb.host(dst)
    code = f"import socket; socket.create_connection(({h.address!r}, {h.port}), timeout=3).close()"
    return subprocess.run(["ip", "netns", "exec", sb.host(src).netns, "python3", "-c", code],
                          capture_output=True, timeout=30).returncode == 0


def _control(res) -> list[dict]:
    return [json.loads(line) for line in (Path(res.run_dir) / "control.jsonl").read_text().splitlines()]


def test_a_45_second_outage_to_the_control_side_is_survived(sb, tmp_path):
    run_id = f"blip-{os.getpid()}"
    th, stop, result, events = _start(sb, tmp_path, run_id, connection_grace_s=60, lease_s=90)
    try:
        assert sandbox.fault(sb.dir, "sb0", "cut-control").startswith("sb0: traffic to the control side")
        t0 = time.monotonic()
        assert _reaches(sb, "sb0", "sb1"), "host-to-host traffic must be untouched"
        before = len(_steps(events))
        time.sleep(max(0.0, 45 - (time.monotonic() - t0)))
        assert th.is_alive(), f"the run ended during a 45 s blip: {result.get('r')}"
        during = len(_steps(events))
    finally:
        sandbox.fault(sb.dir, "sb0", "restore")
    assert during > before, "training went on on the host while the control side was away"
    assert netns.wait_for(lambda: len(_steps(events)) > during + 2, 60)
    stop.set()
    th.join(60)
    res = result["r"]
    assert res.status == "stopped", res.reason   # stopped by us, not failed by the outage
    control = _control(res)
    down = [r for r in control if r["event"] == "host_unreachable"]
    up = [r for r in control if r["event"] == "host_reconnected"]
    assert [r["host"] for r in down] == ["sb0"] and [r["host"] for r in up] == ["sb0"]
    # from its last answer to its next (the kernel may keep an established route for a while)
    assert 5 <= up[0]["seconds"] <= 90, up
    # one task, started once, its records continuous: nothing duplicated, nothing lost
    assert sum(1 for r in control if r["event"] == "task_launch" and r["task_id"] == "worker-0") == 1
    assert sum(1 for r in read_events(events) if r["event"] == "run_start") == 1
    steps = [r["step"] for r in _steps(events)]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    local = Path(res.run_dir) / "hosts" / "sb0" / "one" / "worker-0" / "events.jsonl"
    assert [r["step"] for r in read_events(local) if r["event"] == "step"][:len(steps)] == steps


def test_an_outage_longer_than_the_grace_fails_the_run_and_the_host_stops_its_tasks(sb, tmp_path):
    run_id = f"long-outage-{os.getpid()}"
    th, stop, result, events = _start(sb, tmp_path, run_id, connection_grace_s=5, lease_s=12)
    try:
        sandbox.fault(sb.dir, "sb0", "cut-control")
        t0 = time.monotonic()
        th.join(60)
        took = time.monotonic() - t0
        assert not th.is_alive(), "the run must fail once the outage outlasts the grace"
        res = result["r"]
        assert res.status == "failed" and "host unreachable for more than 5 s" in res.reason, res.reason
        assert took < 45, took
        # the task on the host kills itself when its lease (12 s) is not renewed
        lease_expired = events.parent / layout.LEASE_EXPIRED_FILE
        assert netns.wait_for(lease_expired.exists, 40), "the task's lease watchdog did not fire"
    finally:
        sandbox.fault(sb.dir, "sb0", "restore")
        stop.set()
