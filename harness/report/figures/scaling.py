"""Scaling efficiency, communication share and model-FLOP utilization (pure).

Distributed configuration: more than one worker (horovod, parameter_server, mirrored).
Its baseline is a `single` configuration of the same run with the same workload (model,
dataset, per-worker batch, script args, optimizer) on the same instance type; with several,
the one with the same thread settings, then the fastest (the honest single-process
reference), then run order. Formulas: docs/metrics.md."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from harness.prices import Catalog
from harness.protocol import layout
from harness.report.figures.comm import CommAnalysis, analyse
from harness.protocol.workload import WORK_FIELDS
from harness.report.read.records import RunData, resolved_configurations
from harness.report.figures.metrics import ConfigMetrics, _num, _setting
from harness.strategies import gradients_of, is_baseline
from harness.strategies.base import NO_EXCHANGE, PS_PUSH_PULL

# Peak FP32 TFLOPS per GPU (vendor spec sheets, via /work/shared/data/README.md). Matched
# against the NVML or catalog GPU name; a K80 board has two dies and NVML shows each die.
GPU_PEAK_FP32_TFLOPS: tuple[tuple[str, float, str], ...] = (
    (r"V100.*PCIE", 14.0, "V100 PCIe, vendor spec sheet"),
    (r"V100", 15.7, "V100 SXM2, vendor spec sheet"),
    (r"A10G", 31.2, "A10 spec sheet figure; A10G assumed close (unconfirmed)"),
    (r"\bT4\b", 8.1, "T4, vendor spec sheet"),
    (r"K80", 4.37, "K80 8.73 per board, one die per GPU"),
    (r"M60", 4.8, "M60, per GPU"),
)


def gpu_peak_tflops(name: Optional[str]) -> Optional[tuple[float, str]]:
    if not name:
        return None
    for pattern, tflops, source in GPU_PEAK_FP32_TFLOPS:
        if re.search(pattern, name.upper()):
            return tflops, source
    return None


@dataclass(frozen=True)
class CommShare:
    value: float
    method: str  # which estimator
    inputs: str


@dataclass
class Scaling:
    config: str
    workers: Optional[int]
    distributed: bool
    baseline: Optional[str] = None
    baseline_reason: str = ""  # which baseline and why, or why none
    efficiency: Optional[float] = None
    efficiency_inputs: str = ""
    communication: Optional[CommShare] = None
    communication_reason: str = ""
    mfu: Optional[float] = None
    mfu_inputs: str = ""
    mfu_reason: str = ""
    comm: Optional["CommAnalysis"] = None  # direct share, bytes, oversubscription (report/figures/comm.py)

    @property
    def communication_share(self) -> Optional[float]:
        return self.communication.value if self.communication else None


def _s(x: float) -> str:
    return f"{x:.6g}"


# --- baseline -----------------------------------------------------------------------------

def _workload_key(run: RunData, name: str) -> tuple:
    """(model, dataset, batch, the other fields that change the work per image or step):
    a baseline does the same work per step as the configuration it scales."""
    tasks = run.tasks_of(name)
    task = tasks[0] if tasks else None
    model, _ = _setting(run, task, "model")
    dataset, _ = _setting(run, task, "dataset")
    batch, _ = _setting(run, task, "batch_size")
    rest = tuple(json.dumps(_setting(run, task, f)[0]) for f in WORK_FIELDS if f not in ("model", "batch_size"))
    return (model, json.dumps(dataset, sort_keys=True), batch, rest)


def _threads(run: RunData, name: str) -> str:
    conf = next((c for c in resolved_configurations(run.resolved) if c.get("name") == name), {})
    return json.dumps(conf.get("threads"), sort_keys=True)


def _instance_types(run: RunData, m: ConfigMetrics) -> set[Optional[str]]:
    hosts = {t.host for t in m.tasks} or set(m.hosts)
    out = set()
    for h in hosts:
        t = m.instance_types.get(h) or (run.inventory_host(h) or {}).get("instance_type")
        out.add(t if isinstance(t, str) and t else None)
    return out


def choose_baseline(run: RunData, m: ConfigMetrics,
                    metrics: Sequence[ConfigMetrics]) -> tuple[Optional[ConfigMetrics], str]:
    types = _instance_types(run, m)
    if None in types or len(types) != 1:
        shown = ", ".join(sorted(t or "unknown" for t in types)) or "none"
        return None, f"no baseline: instance types of the workers are not one known type ({shown})"
    key = _workload_key(run, m.config)
    candidates = [b for b in metrics if is_baseline(b.strategy) and b.workers == 1
                  and b.config != m.config and _workload_key(run, b.config) == key
                  and _instance_types(run, b) == types]
    measured = [b for b in candidates if b.throughput_images_per_s]
    if not measured:
        why = "a matching one has no throughput" if candidates else \
            f"no single-process configuration of the same workload and per-worker batch {key[2]} on {next(iter(types))}"
        return None, f"no baseline in this run ({why})"
    threads = _threads(run, m.config)
    order = {b.config: i for i, b in enumerate(metrics)}
    best = min(measured, key=lambda b: (_threads(run, b.config) != threads,
                                        -b.throughput_images_per_s, order[b.config]))
    rule = "same thread settings" if _threads(run, best.config) == threads else "no thread match"
    extra = f"; chosen from {len(measured)} by {rule}, then highest throughput" if len(measured) > 1 else ""
    return best, (f"{best.config}: strategy {best.strategy}, same model/dataset, per-worker batch {key[2]}, "
                  f"{next(iter(types))}{extra}")


# --- communication share: one estimator per data source ----------------------------------

def comm_from_step_times(run: RunData, m: ConfigMetrics,
                         base: Optional[ConfigMetrics]) -> Optional[CommShare]:
    """1 − baseline per-step time / distributed per-step time: the part of a distributed step
    not explained by the same per-worker computation on one worker. Needs a baseline."""
    if base is None or not m.step_time_mean_s or not base.step_time_mean_s:
        return None
    value = 1.0 - base.step_time_mean_s / m.step_time_mean_s
    return CommShare(value, "step times vs baseline",
                     f"1 − {_s(base.step_time_mean_s)} s ({base.config}) ÷ {_s(m.step_time_mean_s)} s")


# The seam for other ways to measure communication: each estimator gets the run, the
# distributed configuration and its baseline (None when the run has none) and returns a
# CommShare or None when its data is absent; the first answer wins. A Horovod-timeline
# estimator (time in allreduce / step time, from rank 0's horovod_timeline.json, e.g. via
# harness.report.figures.horovod_timeline) goes before the step-time one and needs no baseline.
def comm_from_horovod_timeline(run: RunData, m: ConfigMetrics,
                               base: Optional[ConfigMetrics]) -> Optional[CommShare]:
    """Horovod's own account: time inside allreduce/negotiation per step (union of the
    timeline's communication activities) over the mean distributed step time."""
    from harness.report.figures.horovod_timeline import timeline_summary

    if not m.step_time_mean_s:
        return None
    for t in run.tasks_of(m.config):
        path = run.run_dir / t.rel_dir / layout.HOROVOD_TIMELINE_FILE
        if t.rank == 0 and path.is_file():
            summary = timeline_summary(path)
            per_step = summary.get("communication_per_step_s")
            if per_step is None:
                return None
            return CommShare(min(1.0, per_step / m.step_time_mean_s), "Horovod timeline",
                             f"{_s(per_step)} s in allreduce/negotiation per step ÷ {_s(m.step_time_mean_s)} s "
                             f"per step ({t.rel_dir}/horovod_timeline.json)")
    return None


def comm_from_ps_intervals(run: RunData, m: ConfigMetrics,
                           base: Optional[ConfigMetrics]) -> Optional[CommShare]:
    """Parameter server: the chief logs the interval between step completions of the whole
    cluster, so one worker's own step takes that × the workers in flight."""
    if base is None or not base.step_time_mean_s:
        return None
    per_worker = []
    for t in run.tasks_of(m.config):
        warmup = ((t.spec or {}).get("workload") or {}).get("warmup_steps", 5)
        for r in t.steps_with("timing"):  # only these can count below
            if r.get("step", 0) - r.get("steps", 1) + 1 <= warmup:
                continue
            if r.get("timing") == "completion_interval" and r.get("steps") and r.get("workers"):
                per_worker.append(r["seconds"] / r["steps"] * r["workers"])
    if not per_worker:
        return None
    worker_step = sum(per_worker) / len(per_worker)
    return CommShare(1.0 - base.step_time_mean_s / worker_step, "PS completion intervals vs baseline",
                     f"1 − {_s(base.step_time_mean_s)} s ({base.config}) ÷ {_s(worker_step)} s "
                     f"(mean completion interval × workers, after warm-up)")


def comm_from_calibration(run: RunData, m: ConfigMetrics,
                          base: Optional[ConfigMetrics]) -> Optional[CommShare]:
    """Direct: 1 − t_compute / t_step per rank, t_compute from the rank's own calibration
    steps (no exchange, same host and load); needs no baseline (report/figures/comm.py)."""
    return direct_share(analyse(run, m, base), m)


def direct_share(a: CommAnalysis, m: ConfigMetrics) -> Optional[CommShare]:
    """comm_from_calibration from a communication analysis already made."""
    d = a.direct
    if d is None:
        return None
    hw = f" ± {d.half_width:.1%}" if d.half_width is not None else ""
    who = f"mean over {len(a.ranks)} ranks" if gradients_of(m.strategy) != PS_PUSH_PULL else \
        f"workers' calibration vs the chief's completion interval × {m.workers} workers"
    return CommShare(d.value, "direct: calibration steps without communication",
                     f"1 − {_s(d.t_compute_s)} s (t_compute) ÷ {_s(d.t_step_s)} s (t_step), {who}{hw} (95 %)")


Estimator = Callable[[RunData, ConfigMetrics, Optional[ConfigMetrics]], Optional[CommShare]]
# The timeline comes last: its allreduce spans include waiting for the slowest rank, so on
# shared or uneven hosts it exceeds the step itself (measured in the sandbox rehearsal);
# it answers only when the run has no single-process baseline.
# The direct estimator comes first: the baseline ones count CPU contention as communication
# whenever the distributed processes do not run alone (the report shows both, comm.py).
COMMUNICATION_ESTIMATORS: tuple[Estimator, ...] = (comm_from_calibration, comm_from_ps_intervals, comm_from_step_times,
                                                   comm_from_horovod_timeline)


# --- model-FLOP utilization --------------------------------------------------------------

def _flops_per_example(run: RunData, name: str) -> tuple[Optional[float], str]:
    for t in run.tasks_of(name):
        for r in t.of("phase"):
            v = _num(r.get("flops_per_example"))
            if v is not None and v > 0:
                return v, f"phase record {r.get('name')} of task {t.task_id}"
    return None, ""


def _gpu_name(run: RunData, config: str, host: str, itype: Optional[str],
              catalog: Catalog) -> tuple[Optional[str], str]:
    for s in run.samplers_of(config):
        start = s.first("sampler_start") if s.host == host else None
        gpus = start.get("gpus") if start else None
        if isinstance(gpus, list) and gpus:
            g = gpus[0]
            name = g if isinstance(g, str) else (g.get("name") if isinstance(g, dict) else None)
            if isinstance(name, str):
                return name, "sampler_start"
    entry = catalog.get(itype)
    if entry and entry.gpu_model:
        return entry.gpu_model, f"catalog ({itype})"
    from harness.prices.facts import load_facts

    facts = load_facts().get(itype)
    if facts and facts.gpu_name:
        return facts.gpu_name, f"instance facts ({itype})"
    return None, ""


def model_flop_utilization(run: RunData, m: ConfigMetrics, catalog: Catalog) -> tuple[Optional[float], str, str]:
    """(MFU, inputs, reason): throughput × flops_per_example / Σ peak FLOP/s of one GPU per
    training task. flops_per_example is the worker's training (forward + backward) count."""
    flops, where = _flops_per_example(run, m.config)
    if flops is None:
        return None, "", "no flops_per_example in the tasks' phase records"
    if not m.throughput_images_per_s:
        return None, "", "no steady-state throughput"
    peaks = []
    for t in m.tasks:
        itype = m.instance_types.get(t.host) or (run.inventory_host(t.host) or {}).get("instance_type")
        name, src = _gpu_name(run, m.config, t.host, itype, catalog)
        peak = gpu_peak_tflops(name)
        if peak is None:
            if name:
                return None, "", f"host {t.host}: GPU {name} ({src}) has no tabulated FP32 peak"
            return None, "", (f"host {t.host} ({itype or 'unknown instance type'}): no GPU reported "
                              f"by the sampler or listed in the catalog")
        peaks.append((t.task_id, name, peak))
    total_tflops = sum(p[2][0] for p in peaks)
    mfu = m.throughput_images_per_s * flops / (total_tflops * 1e12)
    kinds = list(dict.fromkeys((name, p[0], p[1]) for _, name, p in peaks))
    peak_text = " + ".join(f"{sum(1 for _, n, _p in peaks if n == name)} × {tf:g} TFLOPS ({name}: {src})"
                           for name, tf, src in kinds)
    inputs = (f"{_s(m.throughput_images_per_s)} images/s × {flops:.4g} FLOP/example ({where}) ÷ "
              f"({peak_text})")
    return mfu, inputs, ""


# --- per configuration --------------------------------------------------------------------

def config_scaling(run: RunData, m: ConfigMetrics, metrics: Sequence[ConfigMetrics],
                   catalog: Catalog) -> Scaling:
    workers = m.workers if isinstance(m.workers, int) else None
    sc = Scaling(config=m.config, workers=workers, distributed=bool(workers and workers > 1))
    sc.mfu, sc.mfu_inputs, sc.mfu_reason = model_flop_utilization(run, m, catalog)
    if not sc.distributed:
        sc.baseline_reason = "not distributed (one worker)"
        sc.communication_reason = "not distributed"
        return sc
    base, sc.baseline_reason = choose_baseline(run, m, metrics)
    path = gradients_of(m.strategy)
    if path in (NO_EXCHANGE, None):
        # Independent processes (or a strategy this registry does not know): no gradient
        # exchange to model; the efficiency against the baseline still holds.
        sc.communication_reason = (f"strategy {m.strategy}: no gradients travel between its processes"
                                   if path else f"strategy {m.strategy} is not in the strategy registry "
                                   f"(harness/strategies/, HARNESS_STRATEGY_PATH): no communication model")
    if base is not None:
        sc.baseline = base.config
        if m.throughput_images_per_s:
            sc.efficiency = m.throughput_images_per_s / (workers * base.throughput_images_per_s)
            sc.efficiency_inputs = (f"{_s(m.throughput_images_per_s)} images/s ÷ ({workers} × "
                                    f"{_s(base.throughput_images_per_s)} images/s of {base.config})")
        else:
            sc.efficiency_inputs = "no steady-state throughput"
    if path in (NO_EXCHANGE, None):
        return sc
    sc.comm = analyse(run, m, base)
    for estimate in COMMUNICATION_ESTIMATORS:
        # The direct estimator reads the analysis just made rather than analysing again.
        sc.communication = direct_share(sc.comm, m) if estimate is comm_from_calibration else estimate(run, m, base)
        if sc.communication is not None:
            break
    if sc.communication is None:
        sc.communication_reason = sc.baseline_reason if base is None else "no step times after warm-up"
    elif sc.communication.value < 0:
        sc.communication_reason = ("negative: a distributed step is shorter than the baseline's, "
                                   "so no communication overhead is measurable this way")
    return sc


def compute_scaling(run: RunData, metrics: Sequence[ConfigMetrics], catalog: Catalog) -> list[Scaling]:
    return [config_scaling(run, m, metrics, catalog) for m in metrics]
