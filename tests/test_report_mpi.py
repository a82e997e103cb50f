"""Under `launcher: mpi` the ranks' records sit in events-rank<k>.jsonl files of the
mpirun task; the report counts each as a training task."""

from harness.report.load import load_run
from harness.report.metrics import compute_metrics
from tests.runfixtures import RunDir


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
