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

from harness.report import stats
from harness.report.load import RunData, SamplerData
from harness.report.metrics import ConfigMetrics

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


def _in_window(rec: dict, start: float, end: float) -> bool:
    t = _num(rec.get("t_wall"))
    return t is not None and start <= t <= end


def _field(samples: list[dict], *path: str) -> list[Optional[float]]:
    out = []
    for s in samples:
        v: Any = s
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        out.append(_num(v))
    return out


def _gpu_list(sample: dict) -> list[dict]:
    g = sample.get("gpus")
    return [x for x in g if isinstance(x, dict)] if isinstance(g, list) else []


def _gpu_indices(samples: list[dict]) -> list[int]:
    found = set()
    for s in samples:
        for g in _gpu_list(s):
            if isinstance(g.get("index"), int) and not isinstance(g.get("index"), bool):
                found.add(g["index"])
    return sorted(found)


def _gpu_field(samples: list[dict], index: int, key: str) -> list[Optional[float]]:
    out = []
    for s in samples:
        g = next((g for g in _gpu_list(s) if g.get("index") == index), None)
        out.append(_num(g.get(key)) if g else None)
    return out


def _per_sample_gpu_mean(samples: list[dict]) -> list[Optional[float]]:
    out = []
    for s in samples:
        vals = [v for v in (_num(g.get("util_percent")) for g in _gpu_list(s)) if v is not None]
        out.append(stats.mean(vals) if vals else None)
    return out


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
    samples = [r for r in s.samples if _num(r.get("t_wall")) is not None]
    times = [r["t_wall"] for r in samples]
    w0, w1 = m.training_start_t_wall, m.training_end_t_wall
    inside = [r for r in samples if w0 is not None and _in_window(r, w0, w1)]
    interval = _num(start.get("interval_s"))
    mem_total = _num(start.get("memory_total_bytes"))
    mem_total = mem_total if mem_total and mem_total > 0 else None
    notes = [str(n) for n in s.notes]

    if w0 is None:
        method = (f"no training window (no step records in this configuration); "
                  f"{len(samples)} sample(s) not summarised")
    else:
        method = (f"{len(inside)} of {len(samples)} sample(s) with t_wall in the training window "
                  f"[{fmt_t(w0)}, {fmt_t(w1)}] ({_fmt(w1 - w0)} s: {_window_basis(m)})")
        if samples and not inside:
            notes.append(f"no sample falls inside the training window (samples span "
                         f"{fmt_t(min(times))}–{fmt_t(max(times))})")
        gap = COVERAGE_GAP_INTERVALS * (interval or 1.0)
        if inside:
            first_in, last_in = inside[0]["t_wall"], inside[-1]["t_wall"]
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
        for r in samples:
            avail = _num(r.get("mem_available_bytes"))
            if avail is not None and (min_share is None or avail / mem_total < min_share):
                min_share, min_t = avail / mem_total, r["t_wall"]

    names = _gpu_names(start)
    gpus = [GpuUtil(index=i, name=names.get(i), util_percent=stat(_gpu_field(inside, i, "util_percent")),
                    mem_used_bytes=stat(_gpu_field(inside, i, "mem_used_bytes")),
                    mem_total_bytes=stat(_gpu_field(inside, i, "mem_total_bytes")).peak,
                    power_w=stat(_gpu_field(inside, i, "power_w")))
            for i in _gpu_indices(samples)]
    cores = start.get("cores")
    return HostUtilization(
        config=s.config, host=s.host, instance_type=_instance_type(run, m, s.host),
        window_start=w0, window_end=w1, samples_total=len(samples), samples_in_window=len(inside),
        first_sample_t_wall=min(times) if times else None,
        last_sample_t_wall=max(times) if times else None, interval_s=interval,
        nvml=start.get("nvml") if isinstance(start.get("nvml"), bool) else None,
        nvml_reason=start.get("nvml_reason") if isinstance(start.get("nvml_reason"), str) else None,
        cores=cores if isinstance(cores, int) and not isinstance(cores, bool) else None,
        memory_total_bytes=mem_total,
        cpu_percent=stat(_field(inside, "cpu_percent")), load1=stat(_field(inside, "load1")),
        mem_used_bytes=stat(_field(inside, "mem_used_bytes")),
        mem_available_bytes=stat(_field(inside, "mem_available_bytes")),
        net_sent_bytes_per_s=stat(_field(inside, "net_sent_bytes_per_s")),
        net_recv_bytes_per_s=stat(_field(inside, "net_recv_bytes_per_s")),
        disk_read_bytes_per_s=stat(_field(inside, "disk_read_bytes_per_s")),
        disk_write_bytes_per_s=stat(_field(inside, "disk_write_bytes_per_s")),
        tasks_cpu_percent=stat(_field(inside, "tasks", "cpu_percent")),
        tasks_rss_bytes=stat(_field(inside, "tasks", "rss_bytes")),
        gpus=gpus, gpu_util_percent=stat(_per_sample_gpu_mean(inside)),
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


def host_series(s: SamplerData) -> Series:
    samples = sorted((r for r in s.samples if _num(r.get("t_wall")) is not None),
                     key=lambda r: r["t_wall"])
    total = _num((s.first("sampler_start") or {}).get("memory_total_bytes"))
    used = _field(samples, "mem_used_bytes")
    return Series(host=s.host, t_wall=[r["t_wall"] for r in samples],
                  cpu_percent=_field(samples, "cpu_percent"),
                  gpu_util_percent=_per_sample_gpu_mean(samples),
                  mem_used_share=[u / total if u is not None and total else None for u in used])
