"""Report blocks for utilization, cost, scaling, diagnoses and the recommendation.

Only presentation: every number comes from RunAnalysis; formulas are in docs/metrics.md."""

from __future__ import annotations

from typing import Optional, Sequence

from harness.report.figures.analysis import RunAnalysis
from harness.report.write.blocks import NONE, Block, Bullets, Heading, Para, Table, fmt_bytes, fmt_num, fmt_share
from harness.report.figures.cost import ConfigCost, CostFigure, fmt_usd
from harness.report.figures.diagnose import Check, rank
from harness.report.figures.recommend import Pick
from harness.report.figures.scaling import Scaling
from harness.report.figures.utilization import ConfigUtilization, HostUtilization, Stat

COST_ROWS = (("billed", "Billed (configuration wall time)"), ("startup", "Start-up (incl. first step)"),
             ("training", "Training (after the first step)"), ("per_epoch", "Per epoch"),
             ("per_1m_images", "Per 10⁶ images, steady state"),
             ("per_1m_images_end_to_end", "Per 10⁶ images, end to end"), ("to_target", "To reach the target"))


def _od_spot(c: ConfigCost, fig: str) -> str:
    od, sp = dict(c.on_demand.figures())[fig], dict(c.spot.figures())[fig]
    return f"{fmt_usd(od.usd)} / {fmt_usd(sp.usd)}"


def _usd_h(x: Optional[float]) -> str:
    """An hourly rate exactly as priced ($1.052), not rounded to cents."""
    return "n/a" if x is None else f"${x:g}"


def _pick(p: Pick) -> str:
    if p.config:
        return f"{p.config} ({p.value}) — {p.text}"
    return f"no winner — {p.text}"


def recommendation_blocks(a: RunAnalysis) -> list[Block]:
    r = a.recommendation
    items = [f"Basis: {r.basis_text}; a configuration wins only when it beats every other beyond "
             f"the {100 * r.min_effect:g} % noise floor (docs/metrics.md, Verdicts).",
             f"Fastest: {_pick(r.fastest)}",
             f"Cheapest on-demand: {_pick(r.cheapest_on_demand)}",
             f"Cheapest on spot: {_pick(r.cheapest_spot)}"]
    items += [f"Not considered: {e}" for e in r.excluded]
    if a.workload.fields:
        items.append(f"The configurations train different workloads: they differ in {', '.join(a.workload.fields)} "
                     f"(column Workload above; docs/metrics.md, Configurations that differ in their workload).")
    return [Heading(2, "Recommendation"), Bullets(items)]


def _est(e, fmt=fmt_num) -> str:
    """mean ± half-width (n, method) — every interval says what it is over."""
    if e is None:
        return NONE
    hw = e.half_width
    return f"{fmt(e.mean)}" + ("" if hw is None else f" ± {fmt(hw)}") + f" (n = {e.n}; {e.method})"


def groups_blocks(a: RunAnalysis) -> list[Block]:
    """Each configuration over its counted runs, and the verdict of every pair."""
    rows = []
    differs = bool(a.workload.fields)  # a column of what the configurations train differently
    for g in a.groups:
        runs = ", ".join(r.name + ("" if r.name in g.counted else " (not counted)") for r in g.runs)
        rows.append([g.config, *([a.workload.text(g.config)] * differs), f"{g.n} of {len(g.runs)}: {runs}",
                     _est(g.throughput),
                     fmt_share(g.throughput_cv) if g.throughput_cv is not None else "n/a (1 run)",
                     _est(g.time_to_target), _est(g.startup),
                     _est(g.usd_per_million.get("on_demand"), fmt_usd)])
    blocks: list[Block] = [
        Heading(2, "Configurations over their runs"),
        Para("Mean over the counted runs (succeeded, not warm-up) ± 95 % interval. With 2 or more "
             "runs the interval is a t-interval over the per-run values (n = runs); with one run "
             "there is no interval between runs, and a throughput interval, where shown, is within "
             "that run only (batch means over consecutive steps). CV: coefficient of variation "
             "(sd / mean) of the per-run throughputs."),
        Table(["Configuration", *(["Workload"] * differs), "Runs counted", "Throughput (images/s)", "CV across runs",
               "Time to target (s)", "Start-up (s)", "On-demand $ per 10⁶ images"], rows)]
    if a.verdicts:
        blocks += [Heading(3, "Comparisons (throughput)"),
                   Para(f"Every pair of configurations: the difference of their mean throughputs with "
                        f"its 95 % interval; a difference counts only when it is significant (Welch t, "
                        f"p < 0.05) and the whole interval is beyond the {100 * a.min_effect:g} % noise "
                        f"floor (min_effect)."),
                   Table(["Verdict", "p", "Test"],
                         [[v.text, "n/a" if v.p_value is None else f"{v.p_value:.2g}", v.method]
                          for v in a.verdicts])]
    return blocks


def cost_summary_blocks(a: RunAnalysis) -> list[Block]:
    headers = ["Configuration", "$/h on-demand / spot", *(label for _, label in COST_ROWS)]
    rows = []
    for c in a.costs:
        rates = f"{_usd_h(c.on_demand.rate.usd_per_hour)} / {_usd_h(c.spot.rate.usd_per_hour)}"
        rows.append([c.config, rates, *(_od_spot(c, fig) for fig, _ in COST_ROWS)])
    blocks: list[Block] = [
        Heading(2, "Cost (on-demand / spot)"),
        Para("Each cell is on-demand / spot in USD. Hosts are billed pro rata per second for the "
             "configuration's whole wall time (config_start → config_end), the time they were held "
             "for it; the other figures are the same hourly rate over start-up, training, time to "
             "target, or per epoch / per 10⁶ images at steady-state throughput. n/a: no price "
             "(spot prices come only from the inventory or a prices.json of live prices, never from "
             "an assumed discount). Formula inputs and price sources are in each configuration's "
             "section."),
        Table(headers, rows)]
    if a.price_notes:
        blocks.append(Bullets(a.price_notes))
    return blocks


def bill_blocks(a: RunAnalysis) -> list[Block]:
    """The whole run's bill and its split into runs, idle hosts and harness overhead."""
    b = a.bill
    if b is None:
        return [Heading(2, "Bill of the whole run"),
                Para("n/a: control.jsonl has no connect record (hosts held unknown).")]
    rows = [[p.label, fmt_num(p.host_seconds), fmt_usd(p.on_demand_usd), fmt_usd(p.spot_usd), p.inputs]
            for p in b.parts]
    rows.append(["Total (the bill)", fmt_num(sum(h.billed_s for h in b.holds)), fmt_usd(b.on_demand_usd),
                 fmt_usd(b.spot_usd), b.method])
    holds = [[h.host, h.price.instance_type or NONE,
              _usd_h(h.price.on_demand.usd_per_hour), _usd_h(h.price.spot.usd_per_hour),
              fmt_num(h.held_s), fmt_num(h.billed_s) + (" (60-s minimum)" if h.billed_s > h.held_s + h.boot_s else "")]
             for h in b.holds]
    return [Heading(2, "Bill of the whole run"),
            Para("What the run cost: every host it held, from the start of the connection to the "
                 "last collection, per second, including the time a host sat idle while other "
                 "configurations ran and the harness's own set-up and collection. The parts add up "
                 "to the total; the per-configuration figures elsewhere are the attributable part."),
            Table(["Part", "Host-seconds", "On-demand", "Spot", "Inputs"], rows),
            Table(["Host", "Instance type", "On-demand $/h", "Spot $/h", "Held (s)", "Billed (s)"], holds)]


def scaling_summary_blocks(a: RunAnalysis) -> list[Block]:
    rows = []
    for sc, m in zip(a.scaling, a.metrics):
        rows.append([sc.config, m.strategy or NONE, fmt_num(sc.workers),
                     sc.baseline or ("n/a" if not sc.distributed else "no baseline in this run"),
                     _scaling_text(sc), _comm_text(sc), _mfu_text(sc)])
    blocks: list[Block] = [Heading(2, "Scaling, communication and model-FLOP utilization"),
                           Table(["Configuration", "Strategy", "Workers", "Baseline", "Scaling efficiency",
                                  "Communication share", "MFU"], rows)]
    from harness.report.figures.analysis import scaling_verdicts

    sv = scaling_verdicts(a)
    if sv:
        blocks.append(Para("Over the repeats: scaling efficiency = mean throughput ÷ (N × the baseline's "
                           "mean), with its 95 % interval, and whether it is below ideal beyond noise."))
        blocks.append(Table(["Configuration", "Scaling efficiency (95 % interval)", "Verdict against ideal"],
                            [[name, f"{fmt_share(1 + v.relative)}"
                              + ("" if v.low is None else f" ({fmt_share(1 + v.low)} … {fmt_share(1 + v.high)})"),
                              ("below ideal beyond noise" if v.differs and v.better != name else
                               "above ideal beyond noise" if v.differs else
                               "indistinguishable from ideal" if v.kind == "indistinguishable" else
                               "no verdict (no interval)") + f" — {v.text}"] for name, v in sv.items()]))
    return blocks


def _scaling_text(sc: Scaling) -> str:
    if sc.efficiency is None:
        return "n/a" if not sc.distributed else f"n/a ({sc.baseline_reason or sc.efficiency_inputs})"
    return f"{fmt_share(sc.efficiency)} = {sc.efficiency_inputs}"


def _comm_text(sc: Scaling) -> str:
    c = sc.communication
    if c is None:
        return "n/a" if not sc.distributed else f"n/a ({sc.communication_reason})"
    note = f"; {sc.communication_reason}" if sc.communication_reason else ""
    if sc.comm is not None and sc.comm.oversubscription:
        note += f"; {sc.comm.oversubscription}"
    return f"{fmt_share(c.value)} = {c.inputs} ({c.method}{note})"


def _mfu_text(sc: Scaling) -> str:
    return f"{fmt_share(sc.mfu)} = {sc.mfu_inputs}" if sc.mfu is not None else f"omitted ({sc.mfu_reason})"


def _severity(c: Check) -> str:
    if c.severity is None:
        return "not estimated"
    return f"{fmt_share(c.severity)}{' (minor)' if c.minor else ''}"


def diagnosis_summary_blocks(a: RunAnalysis) -> list[Block]:
    hits = rank(a.checks)
    blocks: list[Block] = [Heading(2, "Diagnoses")]
    if not hits:
        evaluated = sum(1 for c in a.checks if c.status != "not evaluated")
        blocks.append(Para(f"No check triggered ({evaluated} evaluated, "
                           f"{len(a.checks) - evaluated} not evaluated for lack of data; "
                           f"see each configuration)."))
        return blocks
    blocks.append(Para("Ranked by severity, the estimated share of the configuration's time or money the cause "
                       "costs (largest first; below 5 % it is minor). Formulas and thresholds: docs/metrics.md, "
                       "\"Diagnoses\"."))
    blocks.append(Table(["Configuration", "Diagnosis", "Host", "Severity", "Evidence", "Action", "Threshold"],
                        [[c.config, c.name, c.host or NONE, _severity(c), c.evidence, c.action or NONE, c.threshold]
                         for c in hits]))
    return blocks


def interruption_blocks(a: RunAnalysis) -> list[Block]:
    """Spot interruptions of this run (lost seconds and their cost), and where a resumed
    run continued from."""
    blocks: list[Block] = []
    resumed = a.run.control_first("resume")
    if a.interruptions or resumed:
        blocks.append(Heading(2, "Spot interruptions"))
    if resumed:
        blocks.append(Bullets([f"{name}: resumed from run {resumed.get('from_run')} at step {r.get('from_step')} "
                               f"of {r.get('planned_steps') or NONE} ({r.get('reason') or r.get('status')})"
                               for name, r in (resumed.get("configs") or {}).items()]))
    if a.interruptions:
        rows = [[i["config"], f"{i['task']} ({i['host']})", str(i["step"]), f"{i['action']} at {i['time']}",
                 i["checkpoint"] or "none (the last earlier checkpoint counts)",
                 NONE if i["lost_seconds"] is None else f"{i['lost_seconds']:.2f} s",
                 f"{fmt_usd(i['usd'])} = {i['inputs']}" if i["usd"] is not None else f"n/a ({i['reason']})"]
                for i in a.interruptions]
        blocks.append(Table(["Configuration", "Task", "Step", "Notice", "Checkpoint on notice", "Work lost",
                             "Cost of the lost work (spot)"], rows))
    return blocks


# --- per-configuration sections ------------------------------------------------------------

def _ms(s: Stat, fmt=fmt_num) -> str:
    """mean / p95 of a field."""
    return f"{fmt(s.mean)} / {fmt(s.p95)}" if s.n else NONE


def _mp(s: Stat, fmt=fmt_num) -> str:
    """mean / peak of a field."""
    return f"{fmt(s.mean)} / {fmt(s.peak)}" if s.n else NONE


def _rate(x: Optional[float]) -> str:
    return fmt_bytes(x, "/s")


def utilization_blocks(u: ConfigUtilization) -> list[Block]:
    out: list[Block] = [Heading(3, "Utilization")]
    if not u.hosts:
        out.append(Para(u.method + "."))
        return out + ([Bullets(u.notes)] if u.notes else [])
    out.append(Para(f"Mean / p95 (tasks: mean / peak) over the {u.method}."))
    out.append(Table(
        ["Host", "Type", "Samples in window", "Host CPU (% of all cores)", "GPU (% busy, mean of GPUs)",
         "Memory used (bytes)", "Net sent (bytes/s)", "Net received (bytes/s)", "Disk read (bytes/s)",
         "Disk write (bytes/s)", "Task CPU (% of one core, summed; mean / peak)",
         "Task RSS (bytes; mean / peak)"],
        [[h.host, h.instance_type or NONE, f"{h.samples_in_window} of {h.samples_total}",
          _ms(h.cpu_percent), _ms(h.gpu_util_percent), _ms(h.mem_used_bytes, fmt_bytes),
          _ms(h.net_sent_bytes_per_s, _rate), _ms(h.net_recv_bytes_per_s, _rate),
          _ms(h.disk_read_bytes_per_s, _rate), _ms(h.disk_write_bytes_per_s, _rate),
          _mp(h.tasks_cpu_percent), _mp(h.tasks_rss_bytes, fmt_bytes)] for h in u.hosts]))
    gpu_rows = [[h.host, str(g.index), g.name or NONE, _ms(g.util_percent),
                 _mp(g.mem_used_bytes, fmt_bytes), fmt_bytes(g.mem_total_bytes), _ms(g.power_w)]
                for h in u.hosts for g in h.gpus]
    if gpu_rows:
        out.append(Para("Per GPU, over the same samples: NVML's `util_percent` (% of the sample period "
                        "in which a kernel ran), `mem_used_bytes` and `power_w` (W) of each GPU's first "
                        "entry per sample in samples.jsonl; the host table's GPU column is, per sample, "
                        "the mean of `util_percent` over the host's GPUs, then mean / p95 over the samples."))
        out.append(Table(["Host", "GPU", "Name", "Util % (mean / p95)", "Memory used (mean / peak)",
                          "Memory total", "Power W (mean / p95)"], gpu_rows))
    notes = list(u.notes)
    for h in u.hosts:
        notes.append(f"{h.host}: {h.method}")
        notes.append(f"{h.host}: sampler {_sampler_text(h)}")
        notes += [f"{h.host}: {n}" for n in h.notes]
    out.append(Bullets(notes))
    return out


def _sampler_text(h: HostUtilization) -> str:
    parts = [f"interval {fmt_num(h.interval_s)} s" if h.interval_s else "interval unknown"]
    if h.nvml is not None:
        parts.append("NVML on" if h.nvml else f"NVML off ({h.nvml_reason or 'no reason given'})")
    if h.sampler_core_share is not None:
        parts.append(f"own cost {fmt_num(h.sampler_cpu_seconds)} CPU s over "
                     f"{fmt_num(h.sampler_wall_seconds)} s = {100 * h.sampler_core_share:.3g} % of a core")
    if h.sampler_loop_core_share is not None:
        parts.append(f"sampling loop alone {100 * h.sampler_loop_core_share:.3g} % of a core")
    if h.sampler_state:
        parts.append(f"exit state {h.sampler_state}")
    return ", ".join(parts)


def _cost_cell(f: CostFigure, rate) -> str:
    return "n/a (no price; see Rate)" if rate.usd_per_hour is None else f.text


def cost_blocks(c: ConfigCost) -> list[Block]:
    rows = [[label, _cost_cell(dict(c.on_demand.figures())[fig], c.on_demand.rate),
             _cost_cell(dict(c.spot.figures())[fig], c.spot.rate)] for fig, label in COST_ROWS]
    rows.insert(0, ["Rate", _rate_text(c.on_demand.rate), _rate_text(c.spot.rate)])
    prices = [[hp.host, hp.instance_type or NONE,
               f"${hp.on_demand.usd_per_hour:g}/h ({hp.on_demand.source})" if hp.on_demand.known
               else f"n/a ({hp.on_demand.reason})",
               f"${hp.spot.usd_per_hour:g}/h ({hp.spot.source})" if hp.spot.known
               else f"n/a ({hp.spot.reason})"] for hp in c.host_prices]
    return [Heading(3, "Cost"),
            Para(f"Billed time: {fmt_num(c.billed_wall_s)} s, {c.billed_method}; every host of "
                 f"the configuration is billed for it."),
            Table(["Figure", "On-demand", "Spot"], rows),
            Table(["Host", "Instance type", "On-demand price", "Spot price"], prices)]


def _rate_text(rate) -> str:
    if rate.usd_per_hour is None:
        return f"n/a ({rate.reason})"
    return f"{_usd_h(rate.usd_per_hour)}/h = {rate.text}"


def scaling_blocks(sc: Scaling) -> list[Block]:
    items = [f"Baseline: {sc.baseline_reason}"]
    if sc.distributed:
        items += [f"Scaling efficiency: {_scaling_text(sc)}", f"Communication share: {_comm_text(sc)}"]
    items.append(f"Model-FLOP utilization: {_mfu_text(sc)}")
    return [Heading(3, "Scaling"), Bullets(items)]


def check_blocks(checks: Sequence[Check]) -> list[Block]:
    return [Heading(3, "Diagnoses"),
            Table(["Check", "Host", "Result", "Severity", "Evidence", "Threshold"],
                  [[c.name, c.host or NONE, c.status, _severity(c) if c.triggered else NONE, c.evidence,
                    c.threshold] for c in checks])]


def instance_facts_blocks(run_dir, instance_types: Sequence[str] = ()) -> list[Block]:
    """instance_facts.json (DescribeInstanceTypes, stored at run start for EC2 hosts); without
    it, the bundled facts (harness/prices/instance-facts.csv) of the inventory's types."""
    import json
    from pathlib import Path

    from harness.aws.instance_types import FACTS_FILE

    path = Path(run_dir) / FACTS_FILE
    doc = None
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = None
    if doc is not None:
        items = sorted((doc.get("instance_types") or {}).items())
        where = (f"From {doc.get('source', 'DescribeInstanceTypes')} in {doc.get('region') or NONE}, "
                 f"as of {doc.get('as_of') or NONE} (instance_facts.json).")
    else:
        from harness.prices.facts import load_facts

        table = load_facts()
        known = sorted(t for t in set(instance_types) if table.get(t))
        if not known:
            return []
        items = [(t, table.get(t).to_dict()) for t in known]
        where = ("Instance types as declared in the inventory; facts from the bundled "
                 + "; ".join(sorted({table.source_of(t) for t in known})) + ".")
    rows = [[t, str(f.get("vcpus", NONE)), fmt_num((f.get("memory_mib") or 0) / 1024), str(f.get("gpus", 0)),
             f.get("gpu_name") or NONE, fmt_num(f["gpu_memory_mib"] / 1024) if f.get("gpu_memory_mib") else NONE,
             f.get("network_performance") or NONE]
            for t, f in items]
    return [Heading(2, "Instance types"), Para(where),
            Table(["Instance type", "vCPUs", "Memory (GiB)", "GPUs", "GPU", "GPU memory (GiB)", "Network"], rows)]
