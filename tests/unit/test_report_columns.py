"""The columnar reader gives what the row-by-row code read: the same records and bad lines
as read_jsonl, the same numbers as `_num`, the same csv text as `_csv_value`, the same
statistics as `stat`, the same step records as a dict-by-dict scan."""

import json
import math
import random

import numpy as np

from harness.report.read.columns import SampleColumns, StepColumns, fmt_cells, number_column
from harness.report.read.json_lines import split_records
from harness.report.write.csvfiles import _csv_value
from harness.report.read.jsonl_files import read_split
from harness.report.read.rundir import read_jsonl
from harness.report.figures.utilization import _num, stat, stat_array
from tests.support.generated_runs import generate

TRICKY = (b'{"event": "sample", "t_wall": 1.5}\n'
          b'\n'
          b'   {"event": "step", "step": 4}  \n'
          b'{"event": "sample", "t_wall": NaN, "x": Infinity}\n'
          b'{"event": "sample", "big": 123456789012345678901234567890}\n'
          b'\xff\xfe{"not": "utf8"}\n'
          b'[1, 2]\n'
          b'"text"\n'
          b'{"event": "sample", "s": "caf\xc3\xa9"}\x1c\n'
          b'\x1c\n'
          b'{"event": "sample", "t_wall": 3}\r\n'
          b'{"torn": ')


def test_records_and_bad_lines_match_read_jsonl(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(TRICKY)
    want_records, want_bad = read_jsonl(path)
    got = [(n, r) for n, r, _, _ in split_records(TRICKY)]
    # json.dumps compares NaN with NaN (== does not)
    assert json.dumps([r for _, r in got if r is not None]) == json.dumps(want_records)
    assert len(want_records) == 6 and want_bad == [6, 7, 8, 12]
    assert [n for n, r in got if r is None] == want_bad
    split = read_split(path, "sample")
    assert split.bad == want_bad
    assert len(split.rows) + len(split.others) == len(want_records)


def test_number_column_is_num_and_keeps_integers():
    raw = [1, 2.5, None, True, "7", float("nan"), float("inf"), -3, 1e300, 10**20, [1], 0]
    col = number_column(raw)
    for v, x, is_int in zip(raw, col.values.tolist(), col.is_int.tolist()):
        want = _num(v) if not (isinstance(v, int) and abs(v) > 1e19) else float(v)
        assert (math.isnan(x) and want is None) or x == want
        assert is_int == (want is not None and type(v) is int)


def test_csv_text_is_csv_value():
    rng = random.Random(1)
    raw = ([rng.uniform(-1e12, 1e12) for _ in range(50)] + [rng.randrange(-10**12, 10**12) for _ in range(50)]
           + [round(rng.uniform(0, 100), 1) for _ in range(200)] + [None, "x", True, 0, 0.0, -0.5, 12345678901,
                                                                    2**60, 1e-7, 123456.7890123])
    want = [_csv_value(v if (isinstance(v, (int, float)) and not isinstance(v, bool)) else None) for v in raw]
    assert fmt_cells(number_column(raw)) == want


def test_stat_array_is_stat():
    rng = random.Random(2)
    for n in (0, 1, 2, 7, 100, 1001):
        xs = [rng.choice((None, rng.uniform(0, 100), float(rng.randrange(0, 5)))) for _ in range(n)]
        got = stat_array(np.array([np.nan if x is None else x for x in xs], dtype=float))
        assert got == stat(xs)


def _old_steps(recs):
    out, bad = [], 0
    for r in recs:
        step, steps = r.get("step"), r.get("steps")
        images, seconds, t_wall = _num(r.get("images")), _num(r.get("seconds")), _num(r.get("t_wall"))
        if (not isinstance(step, int) or not isinstance(steps, int) or steps < 1
                or images is None or seconds is None or seconds <= 0 or t_wall is None):
            bad += 1
            continue
        out.append((step - steps + 1, steps, images, seconds, _num(r.get("data_wait_s")), t_wall))
    return out, bad


def test_step_columns_keep_what_the_dict_scan_kept():
    recs = [{"event": "step", "step": 4, "steps": 2, "images": 64, "seconds": 0.5, "t_wall": 10, "data_wait_s": 0.1},
            {"event": "step", "step": 5, "steps": True, "images": 32.0, "seconds": 0.25, "t_wall": 11.0},
            {"event": "step", "step": 6, "steps": 0, "images": 64, "seconds": 0.5, "t_wall": 12},
            {"event": "step", "step": "7", "steps": 1, "images": 64, "seconds": 0.5, "t_wall": 12},
            {"event": "step", "step": 8, "steps": 1, "images": None, "seconds": 0.5, "t_wall": 12},
            {"event": "step", "step": 9, "steps": 1, "images": 1, "seconds": 0, "t_wall": 12},
            {"event": "step", "step": 10, "steps": 1, "images": 1, "seconds": 1, "t_wall": None},
            {"event": "step", "step": 11, "steps": 1, "images": 1, "seconds": 1, "t_wall": 13,
             "data_wait_s": "x", "timing": "completion_interval"}]
    lines = [json.dumps(r).encode() for r in recs]
    data = b"\n".join(lines)
    starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    c = StepColumns.build(recs, starts, [a + len(x) for a, x in zip(starts, lines)], lambda: data)
    want, bad = _old_steps(recs)
    ok = c.well_formed
    got = list(zip((c.step[ok] - c.steps[ok] + 1).tolist(), c.steps[ok].tolist(), c.images[ok].tolist(),
                   c.seconds[ok].tolist(), [None if w != w else w for w in c.data_wait_s[ok].tolist()],
                   c.t_wall[ok].tolist()))
    assert got == want and c.n - len(got) == bad == 5
    assert c.records() == recs and c.record(7)["timing"] == "completion_interval"
    assert c.records(c.has_timing) == [recs[7]]


def test_sample_columns_gpu_rules():
    """Utilization takes the first entry per index; samples.csv the last; the mean is over all."""
    samples = [{"gpus": [{"index": 0, "util_percent": 10}, {"index": 0, "util_percent": 30},
                         {"index": 1, "util_percent": None}]},
               {"gpus": "none"}, {}]
    c = SampleColumns.build(samples)
    assert c.gpu_first[0]["util_percent"].tolist()[0] == 10
    assert c.gpu_csv["gpu0_util_percent"].values.tolist()[0] == 30
    assert c.gpu_mean_util.tolist()[0] == 20 and math.isnan(c.gpu_mean_util[1])
    assert c.gpu_present[1].tolist() == [True, False, False]


# --- golden figures from the row-by-row code (main at 8a3a8fb, before the columnar reader) -----

GOLDEN_GEN = {  # results.csv of benchmarks/report_scale.generate(2 hosts, 90 s, seed 3)
    'throughput_images_per_s': '1277.255517',  # (the ± interval is stats.py's, not checked here)
    'step_time_n': '178', 'step_time_mean_s': '0.1002149261', 'step_time_median_s': '0.1003203101',
    'step_time_p95_s': '0.1088989594', 'step_time_sd_s': '0.005583561347', 'data_wait_share': '0.0256434823',
    'training_time_s': '90.21997428', 'images_total': '115200', 'util_cpu_mean_percent': '70.46098901',
    'util_cpu_p95_percent': '77.3', 'util_gpu_mean_percent': '', 'util_gpu_p95_percent': '',
    'util_mem_used_peak_bytes': '6395230193', 'util_net_sent_mean_bytes_per_s': '915458884.6',
    'util_net_recv_mean_bytes_per_s': '972112829.3', 'util_disk_read_mean_bytes_per_s': '2356030.54',
    'util_disk_write_mean_bytes_per_s': '1925304.979', 'util_tasks_rss_peak_bytes': '1509998750'}
GOLDEN_SAMPLES_SHA256 = {
    "gen": "44af0713d3ad1d6b8a57c55b3cba4db69db314c488f1f233ff6833168177b0c4",
    "damaged": "09540bca07bf7e48cade7e65fb0f144c211a9f8807cd1453b897c6be5c4b9504"}


def test_generated_run_gives_the_golden_figures(tmp_path):
    import csv
    import hashlib

    from harness.report.write.render import write_report

    root = generate(tmp_path / "gen", 2, 90, seed=3)
    write_report(root, plots=False)
    row = next(csv.DictReader(open(root / "results.csv")))
    assert {k: row[k] for k in GOLDEN_GEN} == GOLDEN_GEN
    assert hashlib.sha256((root / "samples.csv").read_bytes()).hexdigest() == GOLDEN_SAMPLES_SHA256["gen"]


def test_damaged_gpu_run_gives_the_golden_samples_csv(tmp_path):
    """Odd values the row code printed its own way: NaN, bools, 15-digit integers, repeated
    and float GPU indices, bad UTF-8, blank and non-object lines."""
    import hashlib

    from harness.report.write.render import write_report
    from tests.support.gpu_runs import DAMAGED_SAMPLER_LINES, gpu_run

    root = gpu_run(tmp_path / "gpu")
    samples = root / "hosts" / "g1" / "single" / "sampler" / "samples.jsonl"
    with open(samples, "a", encoding="utf-8") as fh:
        fh.write(DAMAGED_SAMPLER_LINES)
        fh.write('{"event": "sample", "t_wall": 1006, "cpu_percent": NaN, "load1": true, "mem_used_bytes": '
                 '123456789012345, "cpu_percent_per_core": [1, 2.5, 3, 4, 5], "gpus": [{"index": 0, '
                 '"util_percent": 7}, {"index": 0, "util_percent": 9, "power_w": 12345678901}, '
                 '{"index": 1.0, "util_percent": 3}]}\n')
        fh.write('\xff\xfe bad utf8\n')
        fh.write('   \n')
        fh.write('[1, 2]\n')
    events = next((root / "hosts" / "g1" / "single").rglob("events.jsonl"))
    with open(events, "a", encoding="utf-8") as fh:
        fh.write('{"event": "step", "t_wall": 1010, "step": 999, "steps": true, "images": 64, '
                 '"seconds": 0.5, "data_wait_s": "x"}\n')
        fh.write('{"event": "step", "t_wall": 1011, "step": 1000, "steps": 0, "images": 64, "seconds": 0.5}\n')
        fh.write('{"event": "step", "t_wall": 1012.5, "step": 1002, "steps": 2, "images": 64, "seconds": 0.5, '
                 '"data_wait_s": 0.25, "timing": "completion_interval", "workers": 2}\n')
    write_report(root, plots=False)
    assert hashlib.sha256((root / "samples.csv").read_bytes()).hexdigest() == GOLDEN_SAMPLES_SHA256["damaged"]
