"""A host's per-GPU utilization over time, in t_wall order, from its samples' first entry
per GPU index."""

import numpy as np

from harness.report.read.columns import SampleColumns
from harness.report.read.records import SamplerData
from harness.report.figures.gpu_series import gpu_series, time_order


def _sampler(samples):
    return SamplerData(config="c", host="g1", cols=SampleColumns.build(samples), found=True)


def test_series_in_time_order_with_gaps_as_nan():
    s = _sampler([{"t_wall": 3.0, "gpus": [{"index": 0, "util_percent": 30.0}, {"index": 1, "util_percent": 31.0}]},
                  {"t_wall": None, "gpus": [{"index": 0, "util_percent": 99.0}]},
                  {"t_wall": 1.0, "gpus": [{"index": 0, "util_percent": 10.0}, {"index": 0, "util_percent": 50.0}]},
                  {"t_wall": 2.0, "gpus": [{"index": 1, "util_percent": None}, {"index": 2}]}])
    assert time_order(s).tolist() == [2, 3, 0]
    g = gpu_series(s)
    assert g.t_wall.tolist() == [1.0, 2.0, 3.0] and g.indices == [0, 1]  # GPU 2 has no reading
    assert np.array_equal(g.util_percent, np.array([[10.0, np.nan, 30.0], [np.nan, np.nan, 31.0]]),
                          equal_nan=True)


def test_no_gpu_reading_no_series():
    assert gpu_series(_sampler([{"t_wall": 1.0, "cpu_percent": 5.0}])) is None
    assert gpu_series(_sampler([{"t_wall": 1.0, "gpus": [{"index": 0, "util_percent": None}]}])) is None
