"""`harness search --hosts INV -e EXP --budget USD`: the configuration to rent, measuring few
(harness/search/; docs/search.md). --dry-run: the space, the first wave and the worst-case
bill; --resume RUN: continue a search with more budget."""

from __future__ import annotations

import time
from pathlib import Path

from harness.cli.flags import ssh_flags, ssh_options
from harness.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="find the configuration to rent: measure a few configurations of the "
                              "experiment's search: space, predict the rest, stop when the best is known")
    p.add_argument("--hosts", required=True, help="inventory YAML (the hosts of every instance type of the space)")
    p.add_argument("--experiment", "-e", required=True, help="experiment YAML with a search: section")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=float, help="at most this many on-demand $ for all trials")
    budget.add_argument("--host-hours", type=float, help="at most this many host-hours for all trials")
    p.add_argument("--dry-run", action="store_true", help="print the space, the first wave and the worst-case bill")
    p.add_argument("--resume", type=Path, metavar="RUN", help="a search directory (runs/<search-id>) to continue "
                   "with the budget given here added to its own")
    p.add_argument("--runs-dir", default="runs", help="where the search directory is created (default runs/)")
    p.add_argument("--search-id", help="name of the search directory (default: the experiment's name + time)")
    ssh_flags(p)


def cmd_search(args) -> int:
    from harness.search import report
    from harness.search.decide import decide
    from harness.search.run import load_space, search, settings_of

    amount = args.budget if args.budget is not None else args.host_hours
    if amount is None:
        raise UsageError("--budget USD or --host-hours H: a search needs a limit on what it may spend")
    if amount <= 0:
        raise UsageError(f"{'--budget' if args.budget is not None else '--host-hours'} {amount:g}: must be above 0")
    host_hours = args.host_hours is not None
    exp, _, space = load_space(args.experiment, args.hosts)
    if args.dry_run:
        print(dry_run(exp, space, settings_of(exp, amount, host_hours), decide))
        return 0
    if args.resume is not None:
        search_dir = args.resume
    else:
        search_dir = Path(args.runs_dir) / (args.search_id or f"search-{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    opts = {"ssh_options": ssh_options(args)} if ssh_options(args) else {}
    d, trials, space, settings = search(args.experiment, args.hosts, search_dir, amount, host_hours,
                                        resume=args.resume is not None, run_options=opts)
    out = report.write(search_dir, space, settings, d, trials)
    print(f"search directory: {search_dir}\n  {out}")
    print(out.read_text(encoding="utf-8").split("## The space")[0].rstrip())
    return 0


def dry_run(exp, space, settings, decide) -> str:
    from harness.search.acquire import initial_design

    unit = "host-hours" if settings.host_hours else "$"
    lines = [f"search space of {exp.name}: {len(space.points)} configurations; goal: {settings.goal.describe()}",
             *(f"  skipped {s}" for s in space.skipped), "",
             "| configuration | hosts | $/h per host | vCPUs | link |", "|---|---|---|---|---|"]
    for p in space.points:
        t = space.types[p.instance_type]
        lines.append(f"| {p.key} | {p.hosts} | {t.usd_per_hour:g} | {t.vcpus} | {t.link_bits_per_s / 1e6:g} Mbit/s |")
    first = decide(space, settings, [])
    init = initial_design(space.points, space.prices)
    limit = exp.time_limit_s
    worst_wave = sum(p.hosts * (1.0 if settings.host_hours else space.prices[p.instance_type]) * limit / 3600
                     for p in first.wave)
    grid = sum(p.hosts * (1.0 if settings.host_hours else space.prices[p.instance_type]) * limit / 3600
               for p in space.points)
    lines += ["", f"initial design ({len(init)} trials, in waves of at most {settings.width} on disjoint hosts): "
              + ", ".join(p.key for p in init),
              f"first wave: {', '.join(p.key for p in first.wave) or 'none'} ({first.reason})",
              f"worst-case bill: {settings.budget_usd:g} {unit} (the budget: no trial starts unless its predicted "
              f"cost at its interval's slow end fits in what is left), plus what trials overrun their prediction, "
              f"each stopped at time_limit_s ({limit:g} s); the first wave at its time limit: {worst_wave:.4g} {unit}; "
              f"every configuration at its time limit: {grid:.4g} {unit}"]
    return "\n".join(lines)
