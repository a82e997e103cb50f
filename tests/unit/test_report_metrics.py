"""Metric values against hand-computed numbers on the fixed runs of tests/support/runfixtures.py."""

import math

import pytest

from harness.report.read.rundir import load_run
from harness.report.figures.metrics import compute_metrics, config_metrics
from tests.support.runfixtures import WORKLOAD, RunDir, standard_run

T3 = 3.182446305284263  # t(0.975, 3)
T1 = 12.706204736174698  # t(0.975, 1)
T2 = 4.302652729911275  # t(0.975, 2)


@pytest.fixture
def run(tmp_path):
    return load_run(standard_run(tmp_path / "run"))


@pytest.fixture
def metrics(run):
    return {m.config: m for m in compute_metrics(run)}


# --- load --------------------------------------------------------------------------------

def test_load_finds_every_task_in_run_order(run):
    assert run.run_id == "run-1"
    assert run.config_names() == ["one", "two", "gone"]
    assert [(t.config, t.task_id, t.host, t.rank) for t in run.tasks] == [
        ("one", "w0", "h1", 0), ("two", "w0", "h1", 0), ("two", "w1", "h2", 1), ("gone", "w0", "h3", 0)]
    one = run.tasks[0]
    assert one.exit_code == 0 and one.spec["workload"]["warmup_steps"] == 3
    assert len(one.of("step")) == 6 and one.first("run_end")["status"] == "ok"


def test_load_torn_last_line_is_skipped_and_reported(run):
    w1 = run.tasks[2]
    # 1 run_start + 3 phases + 5 steps + 1 epoch = 10 whole records, line 11 torn.
    assert len(w1.events) == 10 and w1.bad_lines == [11]
    assert w1.exit_code is None
    assert any("last line (line 11) is incomplete" in str(p) for p in w1.problems)


def test_load_missing_task_directory_is_a_problem_not_an_error(run):
    gone = run.tasks[3]
    assert gone.events == [] and not gone.events_found
    # plan.json holds the spec every task was shipped (task.json is the same): read from there
    assert gone.spec_source == "plan.json" and gone.spec["workload"]["warmup_steps"] == 3
    assert run.tasks[0].spec_source == "plan.json"
    assert [str(p) for p in gone.problems] == [
        "hosts/h3/gone/w0: task directory is missing (nothing was pulled back from the host)"]


def test_load_tolerates_an_empty_or_missing_run(tmp_path):
    run = load_run(tmp_path / "nope")
    assert run.tasks == [] and "does not exist" in str(run.problems[0])
    (tmp_path / "empty").mkdir()
    run = load_run(tmp_path / "empty")
    assert run.tasks == [] and run.problems[0].where == "control.jsonl"
    assert compute_metrics(run) == []


def test_load_reports_corrupt_middle_lines_and_bad_json_files(tmp_path):
    r = RunDir(tmp_path)
    t = r.task("c", "w0", "h1")
    t.event("run_start", 1.0)
    t.torn("not json\n")
    t.event("run_end", 2.0, status="ok")
    (tmp_path / "plan.json").write_text("{broken", encoding="utf-8")
    (t.path / "exit_code").write_text("boom", encoding="utf-8")
    run = load_run(tmp_path)
    # Without a readable plan the task is still found from its directory.
    [task] = run.tasks
    assert task.bad_lines == [2] and len(task.events) == 2
    assert any("1 line(s) are not valid JSON" in str(p) for p in task.problems)
    assert any(p.where == "plan.json" for p in run.problems)
    assert any("exit_code: not an integer" in str(p) for p in task.problems)
    # The role and rank come from the worker's own records when nothing else says.
    assert (task.role, task.rank) == ("worker", 0)


# --- config "one": one healthy task -------------------------------------------------------

def test_one_throughput_excludes_warmup(metrics):
    m = metrics["one"]
    # warm-up 3: records covering steps 1-2 (first 1) and 3-4 (first 3 <= 3) are left out;
    # kept 5-6, 7-8, 9-10, 11: images 64+64+64+32 = 224, seconds 0.8+1.0+0.6+0.4 = 2.8
    # throughput 224 / 2.8 = 80.0 images/s
    assert m.tasks[0].kept_records == 4 and m.tasks[0].step_records == 6
    assert m.throughput_images_per_s == pytest.approx(80.0)
    # per-step times 0.8/2, 1.0/2, 0.6/2, 0.4/1 = 0.4, 0.5, 0.3, 0.4; steps are
    # autocorrelated, so the interval is over batch means: k = 2 batches of 2 consecutive
    # records, means 0.45 and 0.35: sd 0.0707107, se 0.05; relative half-width
    # t(1) * 0.05 / 0.4 = 1.58828; * 80 = 127.062
    assert m.throughput_ci95_half_width_images_per_s == pytest.approx(
        80 * T1 * 0.05 / 0.4, rel=1e-9)
    assert m.throughput_ci95_half_width_images_per_s == pytest.approx(127.0620, abs=1e-4)
    assert m.throughput_estimate.n == 2 and "batch means" in m.throughput_estimate.method
    assert "4 of 6 records kept" in m.throughput_method and "> warm-up 3" in m.throughput_method


def test_one_step_times_data_wait_training_time(metrics):
    m = metrics["one"]
    # sorted 0.3 0.4 0.4 0.5: median 0.4; p95 at position 0.95*3 = 2.85 -> 0.4 + 0.85*0.1
    assert m.step_time_n == 4
    assert m.step_time_mean_s == pytest.approx(0.4)
    assert m.step_time_median_s == pytest.approx(0.4)
    assert m.step_time_p95_s == pytest.approx(0.485)
    # data wait over kept records: (0.2 + 0 + 0.1 + 0) / 2.8
    assert m.data_wait_share == pytest.approx(0.3 / 2.8)
    # first step start 108.5 - 2.0 = 106.5; last step end 113.3 -> 6.8 s
    assert m.training_time_s == pytest.approx(6.8)
    # 5 records of 64 + 1 of 32, warm-up included
    assert m.images_total == 352


def test_one_startup_split(metrics):
    s = metrics["one"].startup
    # config_start 100.0 -> first step end 108.5 = 8.5 s
    #   launch 100.5 - 100.0 = 0.5; process start 102.0 - 100.5 = 1.5;
    #   import 3.0, data 1.0, model 0.5, first step record 2.0; other 8.5 - 8.5 = 0
    assert s.total_s == pytest.approx(8.5) and s.task_id == "w0"
    assert (s.launch_s, s.process_start_s) == (pytest.approx(0.5), pytest.approx(1.5))
    assert (s.framework_import_s, s.data_ready_s, s.model_built_s, s.first_step_s) == (3.0, 1.0, 0.5, 2.0)
    assert s.other_s == pytest.approx(0.0, abs=1e-9)
    assert metrics["one"].startup_s == s.total_s


def test_one_final_and_target(metrics):
    m = metrics["one"]
    assert (m.final_epoch, m.final_train_loss, m.final_val_loss) == (3, 0.8, 0.9)
    assert (m.final_train_accuracy, m.final_val_accuracy) == (0.70, 0.65)
    assert m.final_val_rmse is None
    # first epoch with val_accuracy >= 0.5 is epoch 2, t_wall 112.3; 112.3 - 100.0 = 12.3 s
    assert m.target_metric == "val_accuracy" and m.target_value == 0.5
    assert m.time_to_target_s == pytest.approx(12.3) and m.target_epoch == 2
    assert (m.status, m.task_states, m.problems) == ("succeeded", {"succeeded": 1}, [])
    assert (m.strategy, m.workers, m.hosts) == ("single", 1, ["h1"])


# --- config "two": 2 tasks, one host died -------------------------------------------------

def test_two_throughput_sums_tasks(metrics):
    m = metrics["two"]
    w0, w1 = m.tasks
    # w0 kept 6, 8, 10, 12: 256 images / (0.5+0.6+0.4+0.5 = 2.0 s) = 128 images/s
    # w1 kept 6, 8, 10 (the torn step 12 is gone): 192 / (0.5+0.7+0.6 = 1.8 s) = 106.667
    assert w0.throughput_images_per_s == pytest.approx(128.0)
    assert w1.throughput_images_per_s == pytest.approx(192 / 1.8)
    assert m.throughput_images_per_s == pytest.approx(128 + 192 / 1.8)  # 234.667
    # w0 per-step 0.25 0.30 0.20 0.25: batch means 0.275, 0.225: se 0.025, rel 0.1
    # w1 per-step 0.25 0.35 0.30: 3 values, too few for batch means: no interval
    assert w0.throughput_ci95_half_width_images_per_s == pytest.approx(128 * T1 * 0.1, rel=1e-9)
    assert w1.throughput_ci95_half_width_images_per_s is None
    # one task without an interval: the configuration has none either
    assert m.throughput_ci95_half_width_images_per_s is None
    assert "too few records" in m.throughput_method


def test_two_pooled_step_times_training_and_startup(metrics):
    m = metrics["two"]
    # pooled per-step times: 0.2 0.25 0.25 0.25 0.3 0.3 0.35; mean 1.9/7
    # median 0.25; p95 at position 0.95*6 = 5.7 -> 0.3 + 0.7*0.05 = 0.335
    assert m.step_time_n == 7
    assert m.step_time_mean_s == pytest.approx(1.9 / 7)
    assert m.step_time_median_s == pytest.approx(0.25)
    assert m.step_time_p95_s == pytest.approx(0.335)
    # data wait (4*0.05 + 3*0.1) / (2.0 + 1.8) = 0.5 / 3.8
    assert m.data_wait_share == pytest.approx(0.5 / 3.8)
    # earliest start min(206.5-1.5, 207.0-1.0) = 205.0; latest end max(209.4, 209.8) -> 4.8 s
    assert m.training_time_s == pytest.approx(4.8)
    # latest first-step end is w1's at 207.0: 207.0 - 200.0 = 7.0 s; launch 0.4,
    # process start 201.5 - 200.4 = 1.1, import 2.5, data 1.0, model 1.0, first step 1.0
    s = m.startup
    assert s.task_id == "w1" and s.total_s == pytest.approx(7.0)
    assert s.launch_s == pytest.approx(0.4) and s.process_start_s == pytest.approx(1.1)
    assert (s.framework_import_s, s.first_step_s) == (2.5, 1.0)
    assert s.other_s == pytest.approx(0.0, abs=1e-9)
    # 6 records of 64 from w0 + 5 from w1
    assert m.images_total == 704


def test_two_target_never_reached_and_dead_host_reported(metrics):
    m = metrics["two"]
    # final figures from rank 0 (w0), epoch 2
    assert (m.final_epoch, m.final_val_accuracy, m.final_val_loss) == (2, 0.45, 1.9)
    assert m.time_to_target_s is None and m.target_epoch is None
    assert m.time_to_target_method == "not reached: best val_accuracy 0.45 in 2 epoch(s) (target >= 0.5)"
    assert m.status == "failed" and m.status_reason == "task w1 on h2 lost"
    assert m.task_states == {"lost": 1, "succeeded": 1}
    text = "\n".join(m.problems)
    assert "last line (line 11) is incomplete" in text
    assert "task w1 on h2: lost" in text
    assert "no run_end record; its events stop at t_wall 209.8 after 5 step record(s)" in text


def test_gone_config_has_no_numbers_but_says_why(metrics):
    m = metrics["gone"]
    assert m.throughput_images_per_s is None and m.startup is None and m.training_time_s is None
    assert m.images_total == 0 and m.task_states == {"lost": 1}
    assert m.startup_method == "no task reached its first step record"
    assert any("task directory is missing" in p for p in m.problems)


# --- smaller runs for the edge cases -------------------------------------------------------

def _single(tmp_path, workload, *, chief=False):
    """One config, one task, log_every 1, 10 images per step of 0.1 s, no control.jsonl."""
    r = RunDir(tmp_path)
    r.resolved(workload, [{"name": "c", "strategy": "single", "workers": 1}])
    t = r.task("c", "w0", "h1", role="chief" if chief else "worker", rank=0)
    return r, t


def test_warmup_boundary_with_one_step_per_record(tmp_path):
    r, t = _single(tmp_path, dict(WORKLOAD, warmup_steps=2))
    # no task.json: warm-up comes from resolved.json
    for i, sec in enumerate([1.0, 0.5, 0.1, 0.2, 0.3], start=1):
        t.step(10.0 + i, i, sec, steps=1, images=10)
    m = config_metrics(load_run(tmp_path), "c")
    # steps 1 and 2 are warm-up (first index <= 2); kept 30 images / 0.6 s = 50 images/s
    assert m.tasks[0].kept_records == 3
    assert m.throughput_images_per_s == pytest.approx(50.0)
    # no control.jsonl: no config start to measure start-up or time to target from
    assert m.startup is None and m.startup_method == "no config_start record in control.jsonl"
    assert m.status == "unknown" and m.task_states == {"unknown": 1}


def test_warmup_everything_and_unknown_setting(tmp_path):
    r = RunDir(tmp_path)
    t = r.task("c", "w0", "h1")
    for i in range(1, 4):
        t.step(float(i), i, 0.1, steps=1, images=10)
    t.exit_code(1)
    m = config_metrics(load_run(tmp_path), "c")
    # no workload anywhere: the default of 5 applies, so all 3 records are warm-up
    assert m.throughput_images_per_s is None
    assert m.throughput_method.startswith("no step records after warm-up (first step index > 5)")
    assert any("warmup_steps not found" in p and "assumed 5" in p for p in m.problems)
    assert any("all 3 step record(s) are warm-up" in p for p in m.problems)
    # exit_code file without a task_exit record decides the state
    assert m.task_states == {"failed": 1}
    assert m.time_to_target_method.startswith("no target set")


def test_lost_task_whose_worker_finished_says_so(tmp_path):
    r, t = _single(tmp_path, dict(WORKLOAD, warmup_steps=0))
    t.step(1.0, 1, 0.5, steps=1, images=10)
    t.event("run_end", 2.0, status="ok", steps=1, images=10, seconds=0.5)
    r.control("task_exit", 3.0, config="c", task_id="w0", host="h1", returncode=None, state="lost")
    m = config_metrics(load_run(tmp_path), "c")
    assert m.problems == ["task w0 on h1: lost (task_exit record in control.jsonl); "
                          "its own events end with run_end status ok"]


def test_single_record_has_throughput_but_no_interval(tmp_path):
    r, t = _single(tmp_path, dict(WORKLOAD, warmup_steps=0))
    t.step(1.0, 1, 0.5, steps=1, images=10)
    m = config_metrics(load_run(tmp_path), "c")
    assert m.throughput_images_per_s == pytest.approx(20.0)
    assert m.throughput_ci95_half_width_images_per_s is None
    assert "too few records" in m.throughput_method


def test_rmse_target_and_chief_speaks_for_the_model(tmp_path):
    wl = {"model": "keypoints", "batch_size": 8, "epochs": 3, "warmup_steps": 0,
          "target_rmse": 2.0}
    r = RunDir(tmp_path)
    r.resolved(wl, [{"name": "ps", "strategy": "parameter_server", "workers": 1, "ps": 1}])
    r.control("config_start", 50.0, config="ps", strategy="parameter_server", workers=1, ps=1,
              hosts=["h1"], instance_types={})
    # the worker (rank 0) has other epoch figures; the chief's are the model's
    w = r.task("ps", "worker0", "h1", role="worker", rank=0)
    w.epoch(60.0, 1, train_loss=9.0, val_loss=9.0, train_rmse=3.0, val_rmse=1.0)
    c = r.task("ps", "chief0", "h1", role="chief", rank=0)
    c.epoch(55.0, 1, train_loss=9.0, val_loss=9.0, train_rmse=3.0, val_rmse=2.5)
    c.epoch(58.0, 2, train_loss=4.0, val_loss=4.2, train_rmse=1.9, val_rmse=2.0)
    c.epoch(61.0, 3, train_loss=3.0, val_loss=3.1, train_rmse=1.6, val_rmse=1.7)
    m = config_metrics(load_run(tmp_path), "ps")
    assert m.final_method.startswith("last epoch record of task chief0")
    assert (m.final_train_rmse, m.final_val_rmse, m.final_val_accuracy) == (1.6, 1.7, None)
    # val_rmse <= 2.0 first at epoch 2 (t_wall 58.0): 58.0 - 50.0 = 8.0 s
    assert m.target_metric == "val_rmse" and m.target_value == 2.0
    assert m.time_to_target_s == pytest.approx(8.0) and m.target_epoch == 2
    assert "val_rmse <= 2" in m.time_to_target_method
