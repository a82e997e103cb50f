"""The GPU columns built with numpy (gpu_columns.py) hold what the row-by-row reader held:
`_row_by_row` below is that reader (main at 53810b8, columns._gpus), kept as the reference."""

import json
import math
import random

import numpy as np
import pytest

from harness.protocol import stats
from harness.report.read.cells import number_column
from harness.report.read.columns import SampleColumns
from harness.report.read.gpu_columns import GPU_FIELDS, gpu_columns
from harness.report.read.json_lines import split_records
from harness.report.figures.utilization import _num


def _row_by_row(n, gpu_lists):
    """The per-sample Python loop the report used before (values, not arrays)."""
    mean = [None] * n
    rows = [(i, g) for i, g in enumerate(gpu_lists) if type(g) is list and g]
    indices, header = set(), {}
    for _, g in rows:
        for e in g:
            if isinstance(e, dict):
                idx = e.get("index")
                if isinstance(idx, int):
                    header.setdefault(idx, None)
                    if not isinstance(idx, bool):
                        indices.add(idx)
    first = {i: {f: [None] * n for f in GPU_FIELDS} for i in indices}
    present = {i: [False] * n for i in indices}
    csv_raw = {}
    for row, g in rows:
        entries = [e for e in g if isinstance(e, dict)]
        utils = [u for u in (_num(e.get("util_percent")) for e in entries) if u is not None]
        if utils:
            mean[row] = stats.mean(utils)
        for i in indices:
            e = next((e for e in entries if e.get("index") == i), None)
            if e is not None:
                present[i][row] = True
                for f in GPU_FIELDS:
                    first[i][f][row] = e.get(f)
        for e in entries:
            if isinstance(e.get("index"), int):
                for f in GPU_FIELDS:
                    csv_raw.setdefault(f"gpu{e['index']}_{f}", [None] * n)[row] = e.get(f)
    return mean, first, present, csv_raw, list(header)


def _same(array, values):
    """A float column equals Python values as number_column reads them, bit for bit."""
    want = number_column(values).values
    return array.tobytes() == want.tobytes()


def _check(gpu_lists):
    n = len(gpu_lists)
    got = gpu_columns(n, gpu_lists)
    mean, first, present, csv_raw, header = _row_by_row(n, gpu_lists)
    assert np.array([np.nan if m is None else m for m in mean]).tobytes() == got.mean_util.tobytes()
    assert got.csv_indices == header and [type(i) for i in got.csv_indices] == [type(i) for i in header]
    assert sorted(got.first) == sorted(first) and sorted(got.present) == sorted(present)
    for i in first:
        assert got.present[i].tolist() == present[i]
        for f in GPU_FIELDS:
            assert _same(got.first[i][f], first[i][f]), (i, f)
    assert set(got.csv) == set(csv_raw)
    for name, raw in csv_raw.items():
        want = number_column(raw)
        assert got.csv[name].values.tobytes() == want.values.tobytes(), name
        assert got.csv[name].is_int.tolist() == want.is_int.tolist(), name
    return got


def _nvml(rng, count, nulls=0.0):
    """A `gpus` value as worker/nvml.py writes it."""
    def maybe(v):
        return None if rng.random() < nulls else v
    return [{"index": i, "util_percent": maybe(float(rng.randrange(0, 101))),
             "mem_used_bytes": maybe(rng.randrange(0, 16 * 2**30)), "mem_total_bytes": maybe(16 * 2**30),
             "power_w": maybe(rng.randrange(20_000, 70_000) / 1000.0), "temperature_c": maybe(rng.randrange(30, 90)),
             "sm_clock_mhz": maybe(rng.randrange(300, 1600))} for i in range(count)]


def test_what_the_sampler_writes_is_read_as_before():
    rng = random.Random(5)
    got = _check([_nvml(rng, 4) for _ in range(300)])
    assert got.shared  # each index once per sample: one array serves both readers
    assert got.csv_indices == [0, 1, 2, 3] and sorted(got.first) == [0, 1, 2, 3]


def test_a_gpu_count_that_changes_between_samples():
    """A GPU falls off the bus and comes back; a sample without GPUs; a host that gains one."""
    rng = random.Random(6)
    lists = [_nvml(rng, rng.choice((0, 1, 3, 4, 8))) for _ in range(400)]
    lists[10] = None
    lists[11] = []
    lists[12] = _nvml(rng, 4)[1:]  # GPU 0 missing
    got = _check(lists)
    assert math.isnan(got.mean_util[10]) and math.isnan(got.mean_util[11])
    assert not got.present[0][12] and got.present[1][12]
    assert got.csv_indices[:2] == [0, 1] and sorted(got.csv_indices) == list(range(8))


def test_missing_and_null_readings():
    rng = random.Random(7)
    lists = [_nvml(rng, 4, nulls=0.3) for _ in range(300)]
    for g in lists[::7]:
        del g[0]["power_w"], g[1]["util_percent"]
    got = _check(lists)
    assert np.isnan(got.csv["gpu0_power_w"].values[::7]).all()
    assert not got.shared or all(np.isnan(got.first[0]["power_w"][::7]))


def test_odd_values_the_row_code_read_its_own_way():
    """Repeated indices (first for figures, last for samples.csv), 1.0 and true matching 1,
    bools as csv indices, non-object entries, strings, huge and non-finite numbers."""
    rng = random.Random(8)
    odd = [{"index": 0, "util_percent": 10}, {"index": 0, "util_percent": 30, "power_w": True},
           {"index": 1.0, "util_percent": 3}, {"index": True, "util_percent": 50, "mem_used_bytes": 10**30},
           {"index": "2", "util_percent": 1e308}, "not an object", None, [1],
           {"index": None, "util_percent": 0.1}, {"util_percent": 0.2}, {"index": -3, "temperature_c": 2**60},
           {"index": 2**70, "util_percent": 0.7}, {"index": 1, "util_percent": float("nan")},
           {"index": 1, "util_percent": -0.0, "sm_clock_mhz": "1590"}, {"index": False, "power_w": 1.5}]
    lists = []
    for _ in range(300):
        lists.append(rng.sample(odd, rng.randrange(0, 6)) if rng.random() < 0.7 else rng.choice(
            (None, "none", [], {"index": 0}, _nvml(rng, 2))))
    got = _check(lists)
    assert not got.shared


def test_means_are_math_fsum_to_the_last_bit():
    """Sums the naive order would round differently go through math.fsum; -0.0 as fsum has it."""
    rng = random.Random(9)
    lists = []
    for _ in range(2000):
        vals = rng.choice(([0.1, 0.2, 0.3], [1e16, 1.0, -1e16], [-0.0], [-0.0, -0.0], [0.0, -0.0],
                           [rng.uniform(0, 100) for _ in range(rng.randrange(1, 9))],
                           [float(rng.randrange(0, 101)) for _ in range(rng.randrange(1, 9))]))
        lists.append([{"index": i, "util_percent": v} for i, v in enumerate(vals)])
    _check(lists)


def test_gpu_lines_of_a_file_with_damaged_lines():
    """Through the reader: torn, non-JSON and non-object lines are bad lines, not samples."""
    rng = random.Random(10)
    lines = [json.dumps({"event": "sample", "t_wall": float(k), "gpus": _nvml(rng, 4)}) for k in range(50)]
    lines[3] = lines[3][:40]
    lines[7] = "[1, 2]"
    lines[9] = '{"event": "sample", "t_wall": 9.0, "gpus": [{"index": 0, "util_percent": NaN}]}'
    data = ("\n".join(lines) + "\n").encode()
    recs = [r for _, r, _, _ in split_records(data) if r is not None and r.get("event") == "sample"]
    assert len(recs) == 48
    c = SampleColumns.build(recs)
    _check([r.get("gpus") for r in recs])
    assert math.isnan(c.gpu_mean_util[7]) and c.gpu_present[0][7]  # line 10: NaN is no reading


@pytest.mark.parametrize("count", [1, 4, 8])
def test_gpu_csv_text_is_the_cells_of_its_columns(count):
    from harness.report.read.cells import fmt_cells

    rng = random.Random(count)
    c = SampleColumns.build([{"t_wall": float(k), "gpus": _nvml(rng, count, nulls=0.05)} for k in range(200)])
    names = c.gpu_csv_columns()
    assert names == [f"gpu{i}_{f}" for i in range(count) for f in GPU_FIELDS]
    cells = [fmt_cells(c.gpu_csv[name]) for name in names]
    assert c.gpu_csv_text() == [",".join(row) for row in zip(*cells)]


def test_generated_gpu_hosts_are_deterministic_and_shaped_like_the_sampler(tmp_path):
    """benchmarks/report_scale.py's GPU hosts: the same arguments give the same bytes, each
    sample's `gpus` has nvml.gpu_readings' keys in its order, and the CPU samples are the
    CPU host's."""
    from tests.support.generated_runs import generate

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a = files(generate(tmp_path / "a" / "run", 2, 30, gpus=4))
    assert a == files(generate(tmp_path / "b" / "run", 2, 30, gpus=4))
    cpu = files(generate(tmp_path / "c" / "run", 2, 30))
    rel = next(k for k in a if k.name == "samples.jsonl")
    gpu_recs = [json.loads(x) for x in a[rel].splitlines()]
    cpu_recs = [json.loads(x) for x in cpu[rel].splitlines()]
    samples = [r for r in gpu_recs if r["event"] == "sample"]
    assert all([list(g) for g in r["gpus"]] == [["index", *GPU_FIELDS]] * 4 for r in samples)
    assert [g["index"] for g in samples[0]["gpus"]] == [0, 1, 2, 3]
    assert [{k: v for k, v in r.items() if k != "gpus"} for r in samples] == [
        r for r in cpu_recs if r["event"] == "sample"]
    start = gpu_recs[0]
    assert start["nvml"] is True and start["nvml_reason"] is None and start["gpus"] == ["Tesla T4"] * 4
