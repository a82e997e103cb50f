"""PURE: the per-instance-type table the studies want, one row per instance type.

A row is a configuration whose hosts all have one instance type (the type comparison of a
study runs the same workload once per type). Its figures come from the run's metrics, cost
and utilization: initialization (the run's connect seconds, every host at once, plus
config_start → first step end, split as in "Start-up"),
training time, images/s (warm-up excluded, batch-means 95 % interval), $/h on-demand and
spot, $ to the target, images per $ (images/s × 3600 / $/h, on-demand), GPU model and mean
utilization. Verdicts (harness.report.figures.verdict.compare) set each row against the fastest row
on seconds per image and against the cheapest row on $ per image — unless the rows'
configurations differ in the work per image or step (workload_diff.py), where those
verdicts would compare different work and are not made. Init and training time come from
one run each: no interval until repeats give one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness.report.figures.analysis import RunAnalysis
from harness.protocol.stats import Estimate, batch_means
from harness.report.figures.verdict import Verdict, compare


@dataclass
class TypeRow:
    instance_type: str
    config: str
    hosts: int
    gpu: Optional[str]
    gpu_source: str
    init_s: Optional[float]
    init_split: str
    training_s: Optional[float]
    images_per_s: Optional[float]
    images_per_s_hw: Optional[float]
    on_demand_per_h: Optional[float]
    spot_per_h: Optional[float]
    price_reason: str
    usd_to_target: Optional[float]
    time_to_target_s: Optional[float]
    to_target_reason: str
    images_per_usd: Optional[float]
    images_per_usd_hw: Optional[float]
    gpu_util_percent: Optional[float]
    gpu_util_reason: str
    seconds_per_image: Optional[Estimate]
    speed_verdict: Optional[Verdict] = None
    cost_verdict: Optional[Verdict] = None
    workload: str = ""  # the configuration's values where configurations differ (workload_diff.py)
    no_verdict: str = ""  # why there are no per-image verdicts


def _gpu_of(itype: str, a: RunAnalysis) -> tuple[Optional[str], str]:
    from harness.prices.facts import load_facts

    entry = None
    try:
        from harness.prices import load_catalog

        entry = load_catalog().get(itype)
    except (OSError, ValueError):
        pass
    if entry and entry.gpu_model:
        return entry.gpu_model, "catalog"
    f = load_facts().get(itype)
    if f is not None:
        return (f.gpu_name, "instance facts") if f.gpus else (None, "no GPU (instance facts)")
    return None, "unknown type"


def _split_text(m) -> str:
    s = m.startup
    if s is None:
        return ""
    names = {"launch_s": "launch", "process_start_s": "interpreter", "framework_import_s": "import",
             "data_ready_s": "data", "model_built_s": "model", "first_step_s": "first step", "other_s": "other"}
    return ", ".join(f"{names[k]} {v:.1f}" for k, v in s.parts() if v is not None)


def _connect_s(a: RunAnalysis) -> Optional[float]:
    rec = a.run.control_first("connect") or {}
    v = rec.get("seconds")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def type_rows(a: RunAnalysis) -> list[TypeRow]:
    rows = []
    connect = _connect_s(a)
    util_of = {u.config: u for u in a.utilization}
    for m, c in zip(a.metrics, a.costs):
        types = {t for t in m.instance_types.values() if isinstance(t, str) and t}
        if len(types) != 1:
            continue
        itype = types.pop()
        gpu, gsrc = _gpu_of(itype, a)
        spi = None
        if m.step_time_samples_s and m.throughput_images_per_s and m.step_time_mean_s:
            per_step = m.throughput_images_per_s * m.step_time_mean_s  # images per step
            est = batch_means(m.step_time_samples_s)
            spi = est.scaled(1.0 / per_step, f"{est.method}, ÷ {per_step:.0f} images per step") if est else None
        od, sp = c.on_demand.rate.usd_per_hour, c.spot.rate.usd_per_hour
        ipd = ipd_hw = None
        if od and m.throughput_images_per_s:
            ipd = m.throughput_images_per_s * 3600.0 / od
            if m.throughput_ci95_half_width_images_per_s is not None:
                ipd_hw = m.throughput_ci95_half_width_images_per_s * 3600.0 / od
        u = util_of.get(m.config)
        gpu_stats = [h.gpu_util_percent for h in (u.hosts if u else []) if h.gpu_util_percent.n]
        util = sum(s.mean for s in gpu_stats) / len(gpu_stats) if gpu_stats else None
        util_reason = "" if util is not None else ("no GPU readings (NVML) from the sampler" if u else "no sampler")
        rows.append(TypeRow(
            instance_type=itype, config=m.config, hosts=len(m.hosts), gpu=gpu, gpu_source=gsrc,
            init_s=None if m.startup_s is None else m.startup_s + (connect or 0.0),
            init_split=(f"connect {connect:.1f}, " if connect is not None else "") + _split_text(m),
            training_s=m.training_time_s,
            images_per_s=m.throughput_images_per_s, images_per_s_hw=m.throughput_ci95_half_width_images_per_s,
            on_demand_per_h=od, spot_per_h=sp, price_reason=c.on_demand.rate.reason or c.spot.rate.reason,
            usd_to_target=c.on_demand.to_target.usd, time_to_target_s=m.time_to_target_s,
            to_target_reason=c.on_demand.to_target.reason, images_per_usd=ipd, images_per_usd_hw=ipd_hw,
            gpu_util_percent=util, gpu_util_reason=util_reason, seconds_per_image=spi,
            workload=a.workload.text(m.config)))
    if len({r.instance_type for r in rows}) < 2:
        return []
    work = [f for f in a.workload.work_fields
            if len({repr(a.workload.values.get(r.config, {}).get(f)) for r in rows}) > 1]
    if work:  # seconds and $ per image of different work: not compared (docs/metrics.md)
        for r in rows:
            r.no_verdict = f"no per-image verdict: the rows differ in {', '.join(work)} (compare $ to target)"
        return rows
    _verdicts(rows)
    return rows


def _verdicts(rows: list[TypeRow]) -> None:
    timed = [r for r in rows if r.seconds_per_image is not None and r.seconds_per_image.mean > 0]
    if not timed:
        return
    fastest = min(timed, key=lambda r: r.seconds_per_image.mean)
    priced = [r for r in timed if r.on_demand_per_h]
    cheapest = min(priced, key=lambda r: r.seconds_per_image.mean * r.on_demand_per_h) if priced else None
    for r in timed:
        if r is not fastest:
            r.speed_verdict = compare(r.instance_type, r.seconds_per_image, fastest.instance_type,
                                      fastest.seconds_per_image, higher_is_better=False,
                                      better_word="faster", worse_word="slower", quantity="seconds per image")
        if cheapest is not None and r is not cheapest and r.on_demand_per_h:
            cost = lambda x: x.seconds_per_image.scaled(x.on_demand_per_h / 3600.0)  # noqa: E731  $ per image
            r.cost_verdict = compare(r.instance_type, cost(r), cheapest.instance_type, cost(cheapest),
                                     higher_is_better=False, better_word="cheaper", worse_word="dearer",
                                     quantity="on-demand $ per image")
