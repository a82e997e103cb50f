"""Users' own scripts on two sandbox hosts: a Horovod benchmark, a MultiWorkerMirrored and a
ParameterServer script written for TF_CONFIG (tests/scripts/), on hosts that share
nothing with the control side: each host has its own mount namespace where /tmp, /root, /home and this
checkout are empty (`sandbox up --private-dirs`), so the script (which exists only here)
must travel in the harness's bundle. For the Horovod benchmark an `env:` value must reach
it and the report's throughput must equal the script's own printed total within the
script's own ±; the TF_CONFIG scripts' figures come from the callback and from the
chief's printed rate."""

import os
import re
from pathlib import Path

import pytest
import yaml

from harness import sandbox
from harness.config import load_inventory
from harness.pipeline import run_experiment
from harness.report.read.rundir import load_run
from harness.report.figures.metrics import compute_metrics
from harness.sandbox import netns, sshd
from harness.transport.ssh import SSHOptions, SSHTransport

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "hvd_benchmark.py"
KERAS_SCRIPT = SCRIPT.with_name("keras_benchmark.py")


def _unavailable():
    if os.geteuid() != 0:
        return "needs root: network namespaces and mount namespaces"
    return netns.netns_unavailable_reason() or sshd.available()


pytestmark = [pytest.mark.slow, pytest.mark.root, pytest.mark.netns,
              pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))]


@pytest.fixture(scope="module")
def private_sb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("privsb")
    d, inv = tmp / "sb", tmp / "sandbox.yaml"
    st = sandbox.up(sandbox.UpRequest(hosts=2, bandwidth=None, directory=str(d), out=str(inv), private_dirs=True))
    st.opts = SSHOptions(known_hosts=Path(st.files[0]), ssh_config=None, harness_known_hosts=tmp / "hk")
    st.tmp = tmp
    yield st
    sandbox.down(d)


def test_private_hosts_see_nothing_of_the_control_side(private_sb):
    inv = load_inventory(private_sb.files[1])
    for h in inv.hosts:
        tr = SSHTransport(h, private_sb.opts)
        try:
            assert not tr.exec(f"test -e {SCRIPT}").ok                 # the script is only here
            assert not tr.exec(f"test -e {private_sb.tmp / 'sandbox.yaml'}").ok   # nor the inventory
            other = next(x for x in inv.hosts if x.name != h.name)
            assert not tr.exec(f"test -e {other.workdir}").ok           # nor the other host's files
            assert tr.exec(f"test -d {h.workdir} && {h.python} -c 'import tensorflow'", timeout=600).ok
            assert tr.exec(f"{h.python} -c 'import harness'", timeout=120).returncode != 0   # no checkout to import
        finally:
            tr.close()


@pytest.mark.horovod
def test_own_benchmark_script_shipped_with_env_and_the_report_matches_its_total(private_sb, tmp_path):
    exp = {
        "name": "ownbench",
        "workload": {
            "script": str(SCRIPT),
            "args": ["--batch-size", "64", "--num-batches-per-iter", "40", "--num-iters", "8"],
            "batch_size": 64,
            "metrics": {"images_per_s": r"Iter #\d+: ([0-9.]+) img/sec per worker"},
            "throughput_scope": "per_rank_equal",   # rank 0 prints its own rate for every rank
            "warmup_readings": 1,
            "env": {"BENCH_NOTE": "from the experiment"},
        },
        "configurations": [{"name": "hvd2", "strategy": "horovod", "workers": 2, "hosts": ["sb0", "sb1"],
                            "threads": {"intra_op": 1, "inter_op": 1}}],
        "sample_interval_s": 0.5,
    }
    path = tmp_path / "ownbench.yaml"
    path.write_text(yaml.safe_dump(exp))
    res = run_experiment(str(path), private_sb.files[1], runs_root=str(tmp_path / "runs"), run_id="ownbench",
                         ssh_options=private_sb.opts)
    assert res.status == "succeeded", res.reason
    run = Path(res.run_dir)
    out = {}
    for host, rank in (("sb0", 0), ("sb1", 1)):
        d = run / "hosts" / host / "hvd2" / f"worker-{rank}"
        out[rank] = (d / "stdout.log").read_text()
        assert f"rank {rank}: BENCH_NOTE=from the experiment" in out[rank]
    m_total = re.search(r"Total img/sec on 2 worker\(s\): ([0-9.]+) \+-([0-9.]+)", out[0])
    assert m_total, out[0]
    total, pm = float(m_total.group(1)), float(m_total.group(2))
    (m,) = compute_metrics(load_run(run))
    print(f"script's printed total: {total:.1f} +-{pm:.1f} img/s; report: {m.throughput_images_per_s:.1f} "
          f"± {m.throughput_ci95_half_width_images_per_s:.1f} images/s ({m.throughput_method})")
    assert abs(m.throughput_images_per_s - total) <= pm
    assert "per_rank_equal" in m.throughput_method and "1 of 2 rank(s) printed" in m.throughput_method
    assert m.training_time_s and m.training_time_s > 0 and m.step_time_n == 7
    report = (run / "report.md").read_text()
    assert "per_rank_equal" in report
    sync = [line for line in (run / "control.jsonl").read_text().splitlines() if '"event": "sync"' in line]
    assert len(sync) == 2 and all('"script_path"' in s for s in sync)


SCRIPTS = SCRIPT.parent


def _run_script(private_sb, tmp_path, name: str, workload: dict, configuration: dict):
    exp = {"name": name, "workload": workload, "configurations": [configuration], "sample_interval_s": 0.5,
           "time_limit_s": 600}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(exp))
    res = run_experiment(str(path), private_sb.files[1], runs_root=str(tmp_path / "runs"), run_id=name,
                         ssh_options=private_sb.opts)
    assert res.status == "succeeded", res.reason
    return Path(res.run_dir)


def test_a_tf_config_multi_worker_mirrored_script_reports_through_the_callback(private_sb, tmp_path):
    run = _run_script(private_sb, tmp_path, "mwms-script",
                      {"script": str(SCRIPTS / "tf_config_mirrored.py"), "args": ["3"], "batch_size": 32},
                      {"name": "mwms", "strategy": "mirrored", "workers": 2, "hosts": ["sb0", "sb1"],
                       "threads": {"intra_op": 1, "inter_op": 1}})
    for host, i in (("sb0", 0), ("sb1", 1)):
        assert f"worker {i} of 2 done" in (run / "hosts" / host / "mwms" / f"worker-{i}" / "stdout.log").read_text()
    (m,) = compute_metrics(load_run(run))
    # Both workers' callback records count: the cluster's rate is the sum of the workers' rates.
    per_task = {t.task_id: t.throughput_images_per_s for t in m.tasks if t.kept_records}
    print(f"MultiWorkerMirrored script: {m.throughput_images_per_s:.1f} images/s; per worker {per_task}")
    assert sorted(per_task) == ["worker-0", "worker-1"] and all(v > 0 for v in per_task.values())
    assert m.throughput_images_per_s == pytest.approx(sum(per_task.values()), rel=1e-6)


def test_a_tf_config_parameter_server_script_reports_its_printed_rate(private_sb, tmp_path):
    run = _run_script(private_sb, tmp_path, "ps-script",
                      {"script": str(SCRIPTS / "tf_config_ps.py"), "args": ["4", "30"], "batch_size": 32,
                       "metrics": {"images_per_s": r"epoch \d+: ([0-9.]+) images/sec"},
                       "throughput_scope": "total", "warmup_readings": 1},
                      {"name": "ps", "strategy": "parameter_server", "ps": 1, "workers": 1, "hosts": ["sb0", "sb1"],
                       "threads": {"intra_op": 1, "inter_op": 2}})
    chief = next(run.glob("hosts/*/ps/chief/stdout.log")).read_text()
    assert "chief done" in chief
    printed = [float(v) for v in re.findall(r"epoch \d+: ([0-9.]+) images/sec", chief)]
    assert len(printed) == 4
    (m,) = compute_metrics(load_run(run))
    print(f"ParameterServer script: printed {printed} images/s; report {m.throughput_images_per_s:.1f} images/s "
          f"({m.throughput_method})")
    # the report's figure is the mean of the chief's readings after the first (warm-up)
    assert m.throughput_images_per_s == pytest.approx(sum(printed[1:]) / 3, rel=1e-3)
    servers = list(run.glob("hosts/*/ps/ps-0/stdout.log")) + list(run.glob("hosts/*/ps/worker-0/stdout.log"))
    assert len(servers) == 2 and all("serving" in p.read_text() for p in servers)


@pytest.mark.horovod
def test_keras_benchmark_with_horovods_callbacks_and_the_report_matches_its_total(private_sb, tmp_path):
    """horovod.tensorflow.keras with all of Horovod's Keras callbacks, on hosts that have only
    the bundle; the legacy optimizer, so the learning-rate callbacks' momentum correction
    runs too (tests/integration/test_script.py runs tf.keras's default SGD)."""
    run = _run_script(private_sb, tmp_path, "kerasbench", {
        "script": str(KERAS_SCRIPT),
        "args": ["--batch-size", "64", "--num-batches-per-iter", "20", "--num-iters", "8", "--legacy-optimizer"],
        "batch_size": 64,
        "metrics": {"images_per_s": r"Iter #\d+: ([0-9.]+) img/sec per worker"},
        "throughput_scope": "per_rank",   # every rank prints its own rate
        "warmup_readings": 1,
    }, {"name": "khvd2", "strategy": "horovod", "workers": 2, "hosts": ["sb0", "sb1"],
        "threads": {"intra_op": 1, "inter_op": 1}})
    out = {rank: (run / "hosts" / host / "khvd2" / f"worker-{rank}" / "stdout.log").read_text()
           for host, rank in (("sb0", 0), ("sb1", 1))}
    losses = {rank: re.search(rf"rank {rank}: done, loss ([0-9.]+)", text).group(1) for rank, text in out.items()}
    assert losses[0] == losses[1]   # MetricAverageCallback
    m_total = re.search(r"Total img/sec on 2 worker\(s\): ([0-9.]+) \+-([0-9.]+)", out[0])
    assert m_total, out[0]
    total, pm = float(m_total.group(1)), float(m_total.group(2))
    (m,) = compute_metrics(load_run(run))
    print(f"script's printed total: {total:.1f} +-{pm:.1f} img/s; report: {m.throughput_images_per_s:.1f} "
          f"± {m.throughput_ci95_half_width_images_per_s:.1f} images/s ({m.throughput_method})")
    assert abs(m.throughput_images_per_s - total) <= pm
    assert "per_rank" in m.throughput_method and "2 of 2" in m.throughput_method and m.step_time_n == 14
