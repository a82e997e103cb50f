"""Pure functions from the samplers' samples.jsonl to utilization summaries per host.

A configuration's figures use only the samples whose `t_wall` lies inside its *training
window*: the earliest step start to the latest step end of its training tasks
(ConfigMetrics.training_start_t_wall / training_end_t_wall). Start-up and the idle tail
before the sampler is stopped would otherwise dilute the means. Every field may be null in
a sample; a null is left out of that field's statistics only. Formulas: docs/metrics.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from harness.protocol import stats
from harness.report.read.records import RunData, SamplerData
from harness.report.figures.gpu_series import time_order
from harness.report.figures.metrics import ConfigMetrics

# Samples normally arrive every interval_s; a gap longer than this many intervals at either
# end of the window means the sampler (or its host) was not there for that part.
COVERAGE_GAP_INTERVALS = 2.0


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Stat:
    """Statistics of one field over samples; None values are left out (n counts the rest)."""
    n: int
    mean: Optional[float]
    p95: Optional[float]
    peak: Optional[float]
    low: Optional[float]


def stat(values: Sequence[Optional[float]]) -> Stat:
    xs = [v for v in values if v is not None]
    if not xs:
        return Stat(0, None, None, None, None)
    return Stat(len(xs), stats.mean(xs), stats.percentile(xs, 95), max(xs), min(xs))


@dataclass(frozen=True)
class GpuUtil:
    index: int
    name: Optional[str]
    util_percent: Stat
    mem_used_bytes: Stat
    mem_total_bytes: Optional[float]
    power_w: Stat


@dataclass
class HostUtilization:
    config: str
    host: str
    instance_type: Optional[str]
    window_start: Optional[float]
    window_end: Optional[float]
    samples_total: int
    samples_in_window: int
    first_sample_t_wall: Optional[float]  # over all samples of this sampler
    last_sample_t_wall: Optional[float]
    interval_s: Optional[float]
    nvml: Optional[bool]
    nvml_reason: Optional[str]
    cores: Optional[int]
    memory_total_bytes: Optional[float]
    cpu_percent: Stat
    load1: Stat
    mem_used_bytes: Stat
    mem_available_bytes: Stat
    net_sent_bytes_per_s: Stat
    net_recv_bytes_per_s: Stat
    disk_read_bytes_per_s: Stat
    disk_write_bytes_per_s: Stat
    tasks_cpu_percent: Stat
    tasks_rss_bytes: Stat
    gpus: list[GpuUtil]
    gpu_util_percent: Stat  # per sample: mean over the GPUs that reported; then over samples
    # Lowest available/total memory over ALL samples of the configuration (not just the
    # window: running out of memory while loading data matters too).
    mem_available_min_share: Optional[float]
    mem_available_min_t_wall: Optional[float]
    # The sampler's own cost (sampler_end, else the last sampler_cost): over its whole life,
    # and, when recorded, over the sampling loop alone (interpreter start-up left out).
    sampler_cpu_seconds: Optional[float]
    sampler_wall_seconds: Optional[float]
    sampler_loop_cpu_seconds: Optional[float]
    sampler_loop_wall_seconds: Optional[float]
    sampler_state: Optional[str]
    method: str
    notes: list[str] = field(default_factory=list)

    @property
    def has_gpus(self) -> bool:
        return any(g.util_percent.n for g in self.gpus)

    @property
    def sampler_core_share(self) -> Optional[float]:
        """The sampler's own CPU cost as a fraction of one core."""
        if self.sampler_cpu_seconds is None or not self.sampler_wall_seconds:
            return None
        return self.sampler_cpu_seconds / self.sampler_wall_seconds

    @property
    def sampler_loop_core_share(self) -> Optional[float]:
        if self.sampler_loop_cpu_seconds is None or not self.sampler_loop_wall_seconds:
            return None
        return self.sampler_loop_cpu_seconds / self.sampler_loop_wall_seconds


@dataclass
class ConfigUtilization:
    config: str
    hosts: list[HostUtilization]
    method: str
    notes: list[str] = field(default_factory=list)

    def host(self, name: str) -> Optional[HostUtilization]:
        return next((h for h in self.hosts if h.host == name), None)


def _percentile(sorted_xs: np.ndarray, q: float) -> float:
    """stats.percentile (type 7) of already sorted values, the same arithmetic on floats."""
    pos = (len(sorted_xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    a, b = float(sorted_xs[lo]), float(sorted_xs[hi])
    return a + (b - a) * (pos - lo)


def stat_array(values: np.ndarray) -> Stat:
    """`stat` of a column: NaN entries are the None values left out."""
    xs = values[~np.isnan(values)]
    if not len(xs):
        return Stat(0, None, None, None, None)
    s = np.sort(xs)
    return Stat(len(xs), stats.mean(xs.tolist()), _percentile(s, 95), float(s[-1]), float(s[0]))


def _gpu_names(start: Optional[dict]) -> dict[int, str]:
    """sampler_start.gpus may list names (strings) or objects with index/name."""
    out: dict[int, str] = {}
    gpus = start.get("gpus") if start else None
    for i, g in enumerate(gpus if isinstance(gpus, list) else []):
        if isinstance(g, str):
            out[i] = g
        elif isinstance(g, dict) and isinstance(g.get("name"), str):
            idx = g.get("index")
            out[idx if isinstance(idx, int) else i] = g["name"]
    return out


def _sampler_state(run: RunData, s: SamplerData) -> Optional[str]:
    exits = [r for r in run.control_of("task_exit", s.config)
             if r.get("task_id") == s.task_id and r.get("host") == s.host]
    return str(exits[-1].get("state")) if exits else None


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def fmt_t(t: float) -> str:
    """A t_wall with millisecond resolution and no exponent: 1795320054.123, 209.8."""
    return f"{t:.3f}".rstrip("0").rstrip(".")


def _first_num(rec: dict, *keys: str) -> Optional[float]:
    """The first numeric field of `keys` (the brief's names, then the sampler's own)."""
    return next((v for v in (_num(rec.get(k)) for k in keys) if v is not None), None)


def _window_basis(m: ConfigMetrics) -> str:
    # An own script reporting by regular expressions has readings, not steps (script_metrics.py).
    if m.training_time_method.startswith("first to last regex reading"):
        return "first to last regex reading of the script's output, all tasks"
    return "first step start to last step end of the training tasks"


def host_utilization(run: RunData, m: ConfigMetrics, s: SamplerData) -> HostUtilization:
    start = s.first("sampler_start") or {}
    ends = s.of("sampler_end") or s.of("sampler_cost")
    end = ends[-1] if ends else {}
    c = s.cols
    t_all = c.col("t_wall")
    valid = ~np.isnan(t_all)  # samples without a numeric t_wall are left out
    times = t_all[valid]
    n_samples = len(times)
    w0, w1 = m.training_start_t_wall, m.training_end_t_wall
    inside = valid & (t_all >= w0) & (t_all <= w1) if w0 is not None else np.zeros(c.n, dtype=bool)
    t_in = t_all[inside]
    n_inside = len(t_in)
    interval = _num(start.get("interval_s"))
    mem_total = _num(start.get("memory_total_bytes"))
    mem_total = mem_total if mem_total and mem_total > 0 else None
    notes = [str(n) for n in s.notes]

    if w0 is None:
        method = (f"no training window (no step records in this configuration); "
                  f"{n_samples} sample(s) not summarised")
    else:
        method = (f"{n_inside} of {n_samples} sample(s) with t_wall in the training window "
                  f"[{fmt_t(w0)}, {fmt_t(w1)}] ({_fmt(w1 - w0)} s: {_window_basis(m)})")
        if n_samples and not n_inside:
            notes.append(f"no sample falls inside the training window (samples span "
                         f"{fmt_t(float(times.min()))}–{fmt_t(float(times.max()))})")
        gap = COVERAGE_GAP_INTERVALS * (interval or 1.0)
        if n_inside:
            first_in, last_in = float(t_in[0]), float(t_in[-1])
            if w1 - last_in > gap:
                notes.append(f"samples stop at t_wall {fmt_t(last_in)}, {_fmt(w1 - last_in)} s before "
                             f"the training window ends (sampler or host stopped early); figures "
                             f"cover only the part before")
            if first_in - w0 > gap:
                notes.append(f"first sample in the window at t_wall {fmt_t(first_in)}, "
                             f"{_fmt(first_in - w0)} s after it starts")
    if s.found and not s.of("sampler_end"):
        notes.append("no sampler_end record (the sampler was killed or its host died)"
                     + ("; its own CPU cost is from the last sampler_cost record" if end else
                        "; its own CPU cost is unknown"))

    # Memory pressure looks at every sample of the configuration, not only the window.
    min_share = min_t = None
    if mem_total:
        share = c.col("mem_available_bytes")[valid] / mem_total
        if not np.isnan(share).all():
            k = int(np.nanargmin(share))  # the first of equal minima, as a strict < scan finds
            min_share, min_t = float(share[k]), float(times[k])

    names = _gpu_names(start)
    gpus = [GpuUtil(index=i, name=names.get(i), util_percent=stat_array(f["util_percent"][inside]),
                    mem_used_bytes=stat_array(f["mem_used_bytes"][inside]),
                    mem_total_bytes=stat_array(f["mem_total_bytes"][inside]).peak,
                    power_w=stat_array(f["power_w"][inside]))
            for i, f in sorted(c.gpu_first.items()) if (c.gpu_present[i] & valid).any()]
    cores = start.get("cores")
    return HostUtilization(
        config=s.config, host=s.host, instance_type=_instance_type(run, m, s.host),
        window_start=w0, window_end=w1, samples_total=n_samples, samples_in_window=n_inside,
        first_sample_t_wall=float(times.min()) if n_samples else None,
        last_sample_t_wall=float(times.max()) if n_samples else None, interval_s=interval,
        nvml=start.get("nvml") if isinstance(start.get("nvml"), bool) else None,
        nvml_reason=start.get("nvml_reason") if isinstance(start.get("nvml_reason"), str) else None,
        cores=cores if isinstance(cores, int) and not isinstance(cores, bool) else None,
        memory_total_bytes=mem_total,
        cpu_percent=stat_array(c.col("cpu_percent")[inside]), load1=stat_array(c.col("load1")[inside]),
        mem_used_bytes=stat_array(c.col("mem_used_bytes")[inside]),
        mem_available_bytes=stat_array(c.col("mem_available_bytes")[inside]),
        net_sent_bytes_per_s=stat_array(c.col("net_sent_bytes_per_s")[inside]),
        net_recv_bytes_per_s=stat_array(c.col("net_recv_bytes_per_s")[inside]),
        disk_read_bytes_per_s=stat_array(c.col("disk_read_bytes_per_s")[inside]),
        disk_write_bytes_per_s=stat_array(c.col("disk_write_bytes_per_s")[inside]),
        tasks_cpu_percent=stat_array(c.col("tasks.cpu_percent")[inside]),
        tasks_rss_bytes=stat_array(c.col("tasks.rss_bytes")[inside]),
        gpus=gpus, gpu_util_percent=stat_array(c.gpu_mean_util[inside]),
        mem_available_min_share=min_share, mem_available_min_t_wall=min_t,
        sampler_cpu_seconds=_first_num(end, "cpu_seconds", "cpu_s"),
        sampler_wall_seconds=_first_num(end, "wall_seconds", "wall_s"),
        sampler_loop_cpu_seconds=_num(end.get("loop_cpu_s")),
        sampler_loop_wall_seconds=_num(end.get("loop_wall_s")),
        sampler_state=_sampler_state(run, s), method=method, notes=notes)


def _instance_type(run: RunData, m: ConfigMetrics, host: str) -> Optional[str]:
    t = m.instance_types.get(host)
    if isinstance(t, str) and t:
        return t
    inv = run.inventory_host(host) or {}
    return inv.get("instance_type") if isinstance(inv.get("instance_type"), str) else None


def config_utilization(run: RunData, m: ConfigMetrics) -> ConfigUtilization:
    samplers = run.samplers_of(m.config)
    hosts = [host_utilization(run, m, s) for s in samplers]
    notes = []
    if not samplers:
        method = "no sampler in this configuration (sampling off, or a run from before samplers)"
    else:
        method = f"samples whose t_wall lies in the configuration's training window ({_window_basis(m)})"
        missing = sorted(set(m.hosts) - {s.host for s in samplers})
        if missing:
            notes.append(f"no sampler planned on host(s) {', '.join(missing)}")
    return ConfigUtilization(config=m.config, hosts=hosts, method=method, notes=notes)


def compute_utilization(run: RunData, metrics: Sequence[ConfigMetrics]) -> list[ConfigUtilization]:
    return [config_utilization(run, m) for m in metrics]


# --- configuration-level summary (results.csv) -------------------------------------------

def summary(u: ConfigUtilization) -> dict[str, Optional[float]]:
    """One row's worth: CPU and GPU as the mean over hosts of each host's window mean (each
    host weighs the same) and the highest host p95; memory as the highest peak; network and
    disk as the sum over hosts of each host's mean rate."""
    def hmean(get) -> Optional[float]:
        vals = [v for v in (get(h) for h in u.hosts) if v is not None]
        return stats.mean(vals) if vals else None

    def hmax(get) -> Optional[float]:
        vals = [v for v in (get(h) for h in u.hosts) if v is not None]
        return max(vals) if vals else None

    def hsum(get) -> Optional[float]:
        vals = [v for v in (get(h) for h in u.hosts) if v is not None]
        return math.fsum(vals) if vals else None

    return {
        "util_cpu_mean_percent": hmean(lambda h: h.cpu_percent.mean),
        "util_cpu_p95_percent": hmax(lambda h: h.cpu_percent.p95),
        "util_gpu_mean_percent": hmean(lambda h: h.gpu_util_percent.mean),
        "util_gpu_p95_percent": hmax(lambda h: h.gpu_util_percent.p95),
        "util_mem_used_peak_bytes": hmax(lambda h: h.mem_used_bytes.peak),
        "util_net_sent_mean_bytes_per_s": hsum(lambda h: h.net_sent_bytes_per_s.mean),
        "util_net_recv_mean_bytes_per_s": hsum(lambda h: h.net_recv_bytes_per_s.mean),
        "util_disk_read_mean_bytes_per_s": hsum(lambda h: h.disk_read_bytes_per_s.mean),
        "util_disk_write_mean_bytes_per_s": hsum(lambda h: h.disk_write_bytes_per_s.mean),
        "util_tasks_rss_peak_bytes": hmax(lambda h: h.tasks_rss_bytes.peak),
    }


# --- time series for plots ---------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    host: str
    t_wall: list[float]
    cpu_percent: list[Optional[float]]
    gpu_util_percent: list[Optional[float]]  # mean over GPUs per sample
    mem_used_share: list[Optional[float]]  # used / memory_total_bytes, 0..1


def _none(values: np.ndarray) -> list[Optional[float]]:
    return [None if v != v else v for v in values.tolist()]


@dataclass(frozen=True)
class SeriesArrays:
    """host_series as arrays (NaN = no reading), for drawing."""
    host: str
    t_wall: np.ndarray
    cpu_percent: np.ndarray
    gpu_util_percent: np.ndarray
    mem_used_share: np.ndarray


def host_arrays(s: SamplerData) -> SeriesArrays:
    c = s.cols
    t = c.col("t_wall")
    order = time_order(s)
    total = _num((s.first("sampler_start") or {}).get("memory_total_bytes"))
    used = c.col("mem_used_bytes")[order]
    share = used / total if total else np.full(len(order), np.nan)
    return SeriesArrays(host=s.host, t_wall=t[order], cpu_percent=c.col("cpu_percent")[order],
                        gpu_util_percent=c.gpu_mean_util[order], mem_used_share=share)


def host_series(s: SamplerData) -> Series:
    a = host_arrays(s)
    return Series(host=a.host, t_wall=a.t_wall.tolist(), cpu_percent=_none(a.cpu_percent),
                  gpu_util_percent=_none(a.gpu_util_percent), mem_used_share=_none(a.mem_used_share))
