"""`harness project RUN_DIR`: what a measured distributed configuration would do at other
cluster sizes and link rates (the model: harness/report/figures/projection.py; its inputs: report/figures/comm.py).
With --check RUN_DIR…, the projection is compared with runs measured at those points."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from harness import strategies
from harness.errors import UsageError
from harness.report.figures.projection import Measured, Point, assumptions, predict, project
from harness.protocol import layout
from harness.strategies.base import PS_PUSH_PULL, RING_ALLREDUCE


def register(subparsers) -> None:
    p = subparsers.add_parser("project", help="project a run's distributed configurations to other worker counts, "
                              "link rates and instance types (prints the model's assumptions)")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--workers", default=None, help="comma-separated worker counts (default: the measured one)")
    p.add_argument("--bandwidth", default=None,
                   help="comma-separated link rates per host, tc units: 1gbit,10gbit,25gbit (default: the "
                        "instance type's baseline bandwidth, else the measured run's link)")
    p.add_argument("--instance-type", help="price the hosts (catalog) and take their network bandwidth from EC2's "
                   "instance facts when --bandwidth is not given")
    p.add_argument("--config", action="append", help="project only this configuration (repeatable)")
    p.add_argument("--compute", choices=("calibration", "baseline"), default="calibration",
                   help="t_compute from the ranks' calibration steps (same host and load as the run) or from the "
                        "single-process baseline (ran alone: for projecting an oversubscribed rehearsal to "
                        "separate machines)")
    p.add_argument("--check", type=Path, nargs="+", metavar="RUN_DIR",
                   help="runs of the same configurations at other link rates: print the prediction error")


def _csv_ints(text: str, flag: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected comma-separated integers, e.g. 2,4,8,16") from None
    if not out or min(out) < 1:
        raise UsageError(f"{flag} {text!r}: worker counts must be at least 1")
    return out


def _csv_rates(text: str) -> list[float]:
    from harness.report.figures.link_rate import parse_bits

    out = []
    for x in text.split(","):
        bits = parse_bits(x.strip())
        if not bits:
            raise UsageError(f"--bandwidth {x!r}: expected a rate in tc units, e.g. 100mbit, 10gbit")
        out.append(bits)
    return out


def instance_network_bits(instance_type: str) -> tuple[Optional[float], str]:
    """An EC2 instance type's network rate from the bundled instance facts
    (harness/prices/instance-facts.csv: DescribeInstanceTypes' NetworkPerformance)."""
    from harness.prices.facts import load_facts
    from harness.report.figures.link_rate import parse_bits

    facts = load_facts().get(instance_type)
    perf = facts.network_performance if facts else None
    if not perf:
        return None, f"{instance_type}: no network performance in the instance facts"
    bits = parse_bits(perf)
    note = " (a burst rate: the sustained baseline of smaller sizes is lower)" if "up to" in perf.lower() else ""
    return bits, f"{instance_type} network '{perf}' (instance facts){note}"


def measured_configs(run_dir: Path, compute: str = "calibration", only: Optional[list[str]] = None):
    """[(Measured, t_step measured, notes)] for the run's distributed configurations."""
    from harness.report.figures.analysis import analyze_dir

    if not (run_dir / layout.CONTROL_FILE).is_file():
        raise UsageError(f"{run_dir}: not a run directory (no control.jsonl); pass runs/<run-id>")
    a = analyze_dir(run_dir)
    out = []
    for m, sc in zip(a.metrics, a.scaling):
        if not sc.distributed or sc.comm is None or (only and m.config not in only):
            continue
        if strategies.gradients_of(m.strategy) not in (RING_ALLREDUCE, PS_PUSH_PULL):
            continue   # no gradient exchange to project
        c = sc.comm
        notes = []
        if c.direct is None:
            notes.append(f"{m.config}: skipped ({c.direct_reason})")
            out.append((None, None, notes))
            continue
        t_compute, src = c.direct.t_compute_s, f"calibration, mean over {len(c.ranks)} ranks"
        if compute == "baseline":
            if c.baseline_step_s is None:
                raise UsageError(f"{m.config}: --compute baseline, but the run has no single-process baseline")
            t_compute, src = c.baseline_step_s, f"single-process baseline {c.baseline_config} (ran alone)"
            fit_t = c.direct.t_compute_s
        else:
            fit_t = None
        if c.gradient_bytes is None:
            notes.append(f"{m.config}: skipped (no gradient_bytes recorded)")
            out.append((None, None, notes))
            continue
        batch = _batch(run_dir, m.config)
        fusion = _fusion(run_dir, m.config)
        remote = 1.0
        push_pull = strategies.gradients_of(m.strategy) == PS_PUSH_PULL
        if push_pull:
            ps_hosts = {t.host for t in _tasks(run_dir, m.config) if t.role == "ps"}
            workers = [t for t in _tasks(run_dir, m.config) if t.role == "worker"]
            remote = sum(1 for t in workers if t.host not in ps_hosts) / len(workers) if workers else 1.0
        ratio = c.wire_overhead if c.wire_overhead and 0.5 < c.wire_overhead < 3 else None
        meas = Measured(
            config=m.config, strategy=m.strategy,
            workers=int(m.workers), ps=int(m.ps or 0), batch=batch, t_compute_s=t_compute,
            t_step_s=c.direct.t_step_s, gradient_bytes=float(c.gradient_bytes), wire_overhead=ratio or 1.0,
            link_bits_per_s=c.link_bits_per_s, fusion_bytes=fusion, remote_fraction=remote, t_compute_fit_s=fit_t,
            sources={"t_compute": src, "link": c.link_source,
                     "t_step": ("chief's completion interval × workers, after warm-up"
                                if push_pull else "mean over ranks after warm-up"),
                     "wire_overhead": (("sampler bytes minus the pre-training background ÷ model bytes"
                                        if c.byte_ratio_net is not None else
                                        "sampler bytes ÷ model bytes in the training window") if ratio
                                       else "not measured: 1")})
        out.append((meas, c.direct.t_step_s, notes))
    return out


def _tasks(run_dir: Path, config: str):
    from harness.report.read.rundir import load_run

    return load_run(run_dir).tasks_of(config)


def _batch(run_dir: Path, config: str) -> int:
    for t in _tasks(run_dir, config):
        b = ((t.spec or {}).get("workload") or {}).get("batch_size")
        if isinstance(b, int):
            return b
    raise UsageError(f"{run_dir}: configuration {config} has no workload.batch_size in its task.json")


def _fusion(run_dir: Path, config: str) -> float:
    for t in _tasks(run_dir, config):
        rec = t.first("calibration") or {}
        v = (rec.get("horovod") or {}).get("fusion_threshold_bytes")
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    return 64 * 1024 * 1024


def _fmt_rate(bits: float) -> str:
    return f"{bits / 1e9:g} Gbit/s" if bits >= 1e9 else f"{bits / 1e6:g} Mbit/s"


def _table(points: list[Point]) -> list[str]:
    lines = ["| workers | link | hosts | step time s | comm s/step | images/s | comm share | scaling eff. | "
             "$ per 10⁶ images |", "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        usd = f"{p.usd_per_1m_images:.4g}" if p.usd_per_1m_images is not None else "n/a (no price)"
        lines.append(f"| {p.workers} | {_fmt_rate(p.bits_per_s)} | {p.hosts} | {p.t_step_s:.4g} | {p.t_comm_s:.4g} | "
                     f"{p.throughput:.4g} | {p.comm_share:.1%} | {p.efficiency:.1%} | {usd} |")
    return lines


def cmd_project(args) -> int:
    from harness.prices import load_catalog

    configs = measured_configs(args.run_dir, args.compute, args.config)
    if not any(m for m, _, _ in configs):
        notes = "; ".join(n for _, _, ns in configs for n in ns)
        raise UsageError(f"{args.run_dir}: no distributed configuration with calibration records to project "
                         f"from{': ' + notes if notes else ''}")
    rates: list[Optional[float]] = [None]
    rate_source = "the measured run's link"
    if args.bandwidth:
        rates, rate_source = _csv_rates(args.bandwidth), "--bandwidth"
    elif args.instance_type:
        bits, rate_source = instance_network_bits(args.instance_type)
        if not bits:
            raise UsageError(f"--instance-type {args.instance_type}: {rate_source}; give --bandwidth")
        rates = [bits]
    price, price_source = None, "no price (--instance-type not given)"
    if args.instance_type:
        entry = load_catalog().get(args.instance_type)
        if entry is None:
            raise UsageError(f"--instance-type {args.instance_type}: not in the price catalog "
                             f"(harness/prices/catalog-us-east-1.csv)")
        price, price_source = entry.on_demand_usd_per_hour, \
            f"${entry.on_demand_usd_per_hour:g}/h on-demand per host ({entry.source}, {entry.as_of})"
    checks = [measured_configs(d, args.compute) for d in (args.check or [])]
    lines = []
    for m, _, notes in configs:
        lines += notes
        if m is None:
            continue
        workers = _csv_ints(args.workers, "--workers") if args.workers else [m.workers]
        f, points = project(m, workers, rates, price)
        lines += ["", f"## {m.config}", "", "Assumptions:"]
        lines += [f"- {x}" for x in assumptions(m, f)]
        lines += [f"- link rates from {rate_source}; price: {price_source}", ""]
        lines += _table(points)
        lines += _check_lines(m, f, checks, args.check or [])
    print("\n".join(lines).lstrip("\n"))
    return 0


def _check_lines(m: Measured, f, checks, dirs) -> list[str]:
    rows = []
    for d, cfgs in zip(dirs, checks):
        for other, t_step, _ in cfgs:
            if other is None or other.config != m.config:
                continue
            if other.link_bits_per_s is None:
                rows.append(f"| {d} | {other.workers} | unknown link | {t_step:.4g} | n/a | n/a |")
                continue
            p = predict(m, f, other.workers, other.link_bits_per_s)
            err = (p.t_step_s - t_step) / t_step
            rows.append(f"| {d} | {other.workers} | {_fmt_rate(other.link_bits_per_s)} | {t_step:.4g} | "
                        f"{p.t_step_s:.4g} | {err:+.1%} |")
    if not rows:
        return []
    return ["", "Check against measured runs (step time per worker step):", "",
            "| run | workers | link | measured s | predicted s | error |", "|---|---|---|---|---|---|", *rows]


def main(argv=None) -> int:   # python -m harness.cli.project RUN_DIR …
    ap = argparse.ArgumentParser(prog="harness")
    register(ap.add_subparsers(dest="command", required=True))
    return cmd_project(ap.parse_args(["project", *(argv or [])]))
