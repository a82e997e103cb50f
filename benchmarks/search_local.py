"""`harness search` on a small local space, checked against that space measured whole.

1. The grid: every point of the experiment's `search:` space as a configuration of one
   `harness run` (the configurations the search would run, same names and hosts), with
   repeats, interleaved.
2. The search: `harness search` on the same experiment and hosts with a budget.
3. Printed: the grid's goal per configuration (geometric mean of its runs), its best; the
   search's trials, its pick, where the pick stands in the grid and the report's sequential
   verdict between the pick and the grid's best on the grid's own runs (different /
   equivalent / undecided: harness/report/figures/sequential.py); the search's bill (its
   trials' whole run bills) against the grid's bill (every configuration once: its first
   run's attributable part, and the grid run's whole bill per configuration-run pro rata;
   a later repeat runs in the processes the first kept, cheaper than a first measurement).

    python benchmarks/search_local.py --hosts hosts/local.yaml -e experiments/search-local.yaml \\
        --runs-dir R --repeats 2 --budget 0.01 [--grid-run R/grid] [--search-dir R/search]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def geo(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def grid_experiment(exp_path: str, space) -> dict:
    from harness.search.space import configuration

    raw = yaml.safe_load(Path(exp_path).read_text())
    raw.pop("search", None)
    raw["name"] = raw.get("name", "search") + "-grid"
    raw["configurations"] = [configuration(p, space.hosts[p.instance_type]) for p in space.points]
    return raw


def grid_rows(run_dir: Path, space) -> list[dict]:
    """One row per counted configuration run: its step time, attributable $ and host-s, and its
    share of the run's whole bill (pro rata to the attributable host-seconds)."""
    from harness.report.figures.analysis import analyze_dir
    from harness.report.figures.repeats import run_infos
    from harness.search.space import find

    a = analyze_dir(run_dir)
    infos = run_infos(a.run)
    parts = {p.label: p for p in (a.bill.parts if a.bill else [])}
    whole = a.bill.on_demand_usd if a.bill else None
    own_s = sum(p.host_seconds for p in parts.values()) or 1.0
    rows = []
    for m in a.metrics:
        info, part = infos.get(m.config), parts.get(m.config)
        if m.status != "succeeded" or info is None or not info.counted or not m.step_time_mean_s or part is None:
            continue
        rows.append({"config": info.config, "repeat": info.repeat, "point": find(space, info.config),
                     "step_time_s": m.step_time_mean_s,
                     "usd": part.on_demand_usd or 0.0, "host_s": part.host_seconds,
                     "whole_usd": (whole or 0.0) * part.host_seconds / own_s})
    return rows


def _harness(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "harness", *args], check=True, cwd=REPO)


def main(argv=None) -> int:
    from harness.report.figures import sequential
    from harness.search.decide import decide
    from harness.search.run import _trial_from, load_space, load_state, settings_of

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", required=True)
    ap.add_argument("-e", "--experiment", required=True)
    ap.add_argument("--runs-dir", required=True)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--budget", type=float, help="$ budget of the search (omit to only measure the grid)")
    ap.add_argument("--grid-run", help="an earlier grid run directory (not measured again)")
    ap.add_argument("--search-dir", help="an earlier search directory (not run again)")
    args = ap.parse_args(argv)
    runs = Path(args.runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    exp, _, space = load_space(args.experiment, args.hosts)
    goal = settings_of(exp, 1.0, False).goal
    grid_dir = Path(args.grid_run) if args.grid_run else runs / "grid"
    if not args.grid_run:
        g = runs / "grid.yaml"
        g.write_text(yaml.safe_dump({**grid_experiment(args.experiment, space), "repeats": args.repeats,
                                     "order": "interleaved"}, sort_keys=False))
        _harness("run", "--hosts", args.hosts, "-e", str(g), "--runs-dir", str(runs), "--run-id", "grid",
                 "--keep-going")
    rows = grid_rows(grid_dir, space)
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["config"], []).append(r)
    price = space.prices
    value = {k: goal.value(rs[0]["point"], geo([r["step_time_s"] for r in rs]), price[rs[0]["point"].instance_type])
             for k, rs in by.items()}
    best = min(value, key=value.get)
    # Every configuration once = each one's first counted run: a later repeat runs in the
    # processes its first run kept (harness/worker/hot.py) and costs less than measuring it once.
    first = {k: min(rs, key=lambda r: r["repeat"]) for k, rs in by.items()}
    bill = sum(r["usd"] for r in first.values())
    bill_whole = sum(r["whole_usd"] for r in first.values())
    mean_bill = sum(sum(r["usd"] for r in rs) / len(rs) for rs in by.values())
    print(f"grid: {grid_dir}: {len(by)} of {len(space.points)} configurations, {len(rows)} counted runs; "
          f"goal {goal.describe()}")
    print("\n| configuration | runs | step s (geo mean) | goal | vs best |\n|---|---|---|---|---|")
    for k in sorted(value, key=value.get):
        print(f"| {k} | {len(by[k])} | {geo([r['step_time_s'] for r in by[k]]):.4g} | {value[k]:.4g} "
              f"| {value[k] / value[best] - 1:+.1%} |")
    print(f"\ngrid's bill (every configuration once: its first run): ${bill:.5f} counting the configuration runs' "
          f"own parts, ${bill_whole:.5f} counting the grid run's whole bill pro rata (the mean of all its runs' own "
          f"parts instead: ${mean_bill:.5f})")
    if args.budget is None and not args.search_dir:
        return 0
    sdir = Path(args.search_dir) if args.search_dir else runs / "search"
    if not args.search_dir:
        _harness("search", "--hosts", args.hosts, "-e", args.experiment, "--budget", str(args.budget),
                 "--runs-dir", str(runs), "--search-id", sdir.name)
    state = load_state(sdir)
    trials = [_trial_from(t) for t in state["trials"]]
    spent = sum(t.usd for t in trials) + state.get("lost_usd", 0.0)
    d = decide(space, settings_of(exp, float(state["budget"]), False), trials)
    pick = d.best.key.replace("/", "-") if d.best else None
    print(f"\nsearch: {sdir}: {len(trials)} trials ({', '.join(t.point.key for t in trials)}); "
          f"budget ${state['budget']:.5g}, spent ${spent:.5f} (within budget: {spent <= state['budget']}); "
          f"stopped: {state.get('reason', '')}")
    if pick is None or pick not in value:
        print(f"pick: {pick} (not in the grid)")
        return 1
    design = sequential.Design(max_repeats=max(2, args.repeats), min_effect=exp.min_effect)
    gvals = {k: [goal.value(r["point"], r["step_time_s"], price[r["point"].instance_type]) for r in rs]
             for k, rs in by.items()}
    v = sequential.look(sequential.Comparison(best, pick, higher_is_better=False), gvals[best], gvals[pick],
                        design, 1) if pick != best else None
    verdict = "the grid's best itself" if v is None else \
        f"{v.state}{' (' + v.reason + ')' if v.reason else ''}, ratio {v.ratio:+.1%}" if v.ratio is not None \
        else v.state
    print(f"pick: {pick}: {value[pick]:.4g} {goal.unit} in the grid, {value[pick] / value[best] - 1:+.1%} against "
          f"the grid's best {best}; the report's verdict (grid's runs, best vs pick): {verdict}")
    print(f"bills: the search ${spent:.5f}; the grid ${bill:.5f} (own parts) / ${bill_whole:.5f} (whole, pro rata): "
          f"{spent / bill:.1%} / {spent / bill_whole:.1%} of the grid's bill")
    json.dump({"grid": {k: {"runs": [r["step_time_s"] for r in rs], "goal": value[k]} for k, rs in by.items()},
               "best": best, "pick": pick, "verdict": None if v is None else v.state, "spent_usd": spent,
               "grid_bill_usd": bill, "grid_bill_whole_usd": bill_whole},
              open(runs / "search_local.json", "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
