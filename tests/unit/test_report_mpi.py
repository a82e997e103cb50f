"""Under `launcher: mpi` the ranks' records sit in events-rank<k>.jsonl files of the
mpirun task; the report counts each as a training task."""

from harness.report.read.rundir import load_run
from harness.report.figures.metrics import compute_metrics
from tests.support.runfixtures import RunDir


def test_rank_files_are_training_tasks(tmp_path):
    run = RunDir(tmp_path / "run")
    run.control("config_start", 1000.0, config="mpi", strategy="horovod", workers=2, ps=0, hosts=["a"])
    launcher = run.task("mpi", "mpirun", "a", role="launcher", rank=None).task_json()
    launcher.event("run_start", 1000.5)
    launcher.exit_code(0)
    for k in (0, 1):
        launcher.events = launcher.path / f"events-rank{k}.jsonl"
        launcher.rank = k
        # Warm-up 5 (fixture workload default) leaves steps 6..10: 5 records of 1 step,
        # 32 images in 0.1 s (rank 0) / 0.2 s (rank 1) -> 320 + 160 images/s.
        for step in range(1, 11):
            launcher.step(1001.0 + step, step, 0.1 * (k + 1), steps=1, images=32)
    run.control("config_end", 1020.0, config="mpi", status="succeeded", reason="")
    run.write_plan()
    data = load_run(tmp_path / "run")
    ranks = [t for t in data.tasks if t.task_id.startswith("mpirun/rank")]
    assert [(t.task_id, t.rank, t.exit_code) for t in ranks] == [("mpirun/rank0", 0, 0), ("mpirun/rank1", 1, 0)]
    (m,) = compute_metrics(data)
    assert round(m.throughput_images_per_s) == 480


def _two_configs(tmp_path):
    run = RunDir(tmp_path / "run")
    for name, strategy, t0 in (("one", "single", 1000.0), ("dist", "parameter_server", 2000.0)):
        run.control("config_start", t0, config=name, strategy=strategy, workers=1 if name == "one" else 2, ps=0,
                    hosts=["a"])
        run.control("config_end", t0 + 50, config=name, status="succeeded", reason="")
    one = run.task("one", "worker-0", "a").task_json()
    for step in range(1, 11):   # baseline: 0.1 s per step
        one.step(1001.0 + step, step, 0.1, steps=1, images=32)
    return run, one


def test_ps_share_from_completion_intervals(tmp_path):
    from harness.report.figures.scaling import comm_from_ps_intervals

    run, _ = _two_configs(tmp_path)
    chief = run.task("dist", "chief", "a", role="chief", rank=0).task_json()
    for step in range(1, 11):   # 2 workers in flight, one completion every 0.1 s -> 0.2 s per worker step
        chief.event("step", 2001.0 + step, step=step, steps=1, epoch=1, images=32, seconds=0.1, loss=1.0,
                    data_wait_s=None, timing="completion_interval", workers=2)
    run.write_plan()
    data = load_run(tmp_path / "run")
    base, dist = compute_metrics(data)
    share = comm_from_ps_intervals(data, dist, base)
    assert abs(share.value - 0.5) < 1e-9   # 1 - 0.1 / 0.2
    assert "after warm-up" in share.inputs


def test_horovod_share_from_the_timeline(tmp_path):
    import json

    from harness.report.figures.scaling import comm_from_horovod_timeline

    run, _ = _two_configs(tmp_path)
    w0 = run.task("dist", "worker-0", "a", rank=0).task_json()
    for step in range(1, 11):
        w0.step(2001.0 + step, step, 0.2, steps=1, images=32)
    # Two steps, each with one 50 ms allreduce (chrome trace, microseconds).
    trace = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "grad"}}]
    for i in range(2):
        trace += [{"ph": "B", "pid": 1, "ts": i * 200000, "name": "ALLREDUCE"},
                  {"ph": "E", "pid": 1, "ts": i * 200000 + 50000}]
    (w0.path / "horovod_timeline.json").write_text(json.dumps(trace))
    run.write_plan()
    data = load_run(tmp_path / "run")
    _, dist = compute_metrics(data)
    share = comm_from_horovod_timeline(data, dist, None)
    assert share is not None and share.method == "Horovod timeline"
    assert 0 < share.value <= 1
