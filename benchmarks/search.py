"""Offline benchmark of `harness search`: replay searches against a fully measured grid.

The grid (benchmarks/data/search_grid.json, recorded on the sandbox by
benchmarks/search_record.py: stand-ins with real instance-type names and catalog prices,
CPU quotas scaled to their vCPUs, shaped links) has every configuration measured twice or
more. A replayed search runs the same rule as `harness search` (harness.search.decide):
each time it measures a configuration it gets one of that configuration's recorded runs,
drawn by the seed without replacement, and pays that run's recorded bill. Printed:

- how noisy the grid is (per configuration: the spread of its recorded runs);
- the grid: every configuration's goal value, the best, the near-ties and where the best
  strategy changes with the worker count;
- over the seeds: how often the pick is within 10 % of the grid's best on the goal, the
  mean fraction of the grid's bill spent (the grid's bill: every configuration measured
  once, at the mean of its recorded runs' bills), and the model's held-out error per
  strategy (its predictions at the configurations the search did not measure).

    python benchmarks/search.py [--seeds 50] [--goal usd_per_1m_images|time_to_target] [--budget-share 0.6]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import defaultdict
from pathlib import Path

from harness.report.figures.perf_model import Point, TypeInfo, predict
from harness.search.decide import Settings, Trial, decide, model_of
from harness.search.goal import Goal
from harness.search.space import Space

DATA = Path(__file__).resolve().parent / "data" / "search_grid.json"


def load_grid(path: Path = DATA):
    meta = json.loads(path.read_text())
    rows = meta["rows"]
    runs: dict[str, list[dict]] = defaultdict(list)
    points: dict[str, Point] = {}
    types = {}
    for r in rows:
        p = Point(r["instance_type"], r["strategy"], r["workers"], r["ps"], None, r["batch_size"])
        points[p.key] = p
        runs[p.key].append(r)
        vcpus, gbit = meta["types"][r["instance_type"]]
        types[r["instance_type"]] = TypeInfo(r["instance_type"], vcpus, gbit * 1e9 / 100, r["usd_per_host_hour"])
    if any(r.get("link_bits_per_s") for r in rows):
        for t in types:
            link = [r["link_bits_per_s"] for r in rows if r["instance_type"] == t and r.get("link_bits_per_s")]
            if link:
                types[t] = TypeInfo(t, types[t].vcpus, link[0], types[t].usd_per_hour)
    cap = {t: 5 for t in types}
    space = Space(sorted(points.values(), key=lambda p: p.key), types, {t: [f"{t}#{i}" for i in range(c)]
                                                                         for t, c in cap.items()})
    return meta, space, runs


def geo(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def truth(space: Space, runs, goal: Goal) -> dict[str, float]:
    """Goal of every configuration at its recorded runs' geometric mean; inf where it misses
    the deadline."""
    out = {}
    for k, rs in runs.items():
        p, y = space_point(space, k), geo([r["step_time_s"] for r in rs])
        price = space.prices[p.instance_type]
        out[k] = goal.value(p, y, price) if goal.feasible(p, y, price) else math.inf
    return out


def space_point(space: Space, key: str) -> Point:
    return next(p for p in space.points if p.key == key)


REUSED = [0]   # draws of a recorded run a second time, over all seeds


def replay(space: Space, runs, settings: Settings, seed: int):
    rng = random.Random(seed)
    pools = {k: rng.sample(rs, len(rs)) for k, rs in runs.items()}
    trials: list[Trial] = []
    reused = REUSED
    for _ in range(200):
        d = decide(space, settings, trials)
        if not d.wave:
            return d, trials
        for p in d.wave:
            if not pools[p.key]:   # every recorded run used: draw again from them (said in the output)
                pools[p.key] = rng.sample(runs[p.key], len(runs[p.key]))
                reused[0] += 1
            r = pools[p.key].pop()
            trials.append(Trial(p, r["step_time_s"], r["t_compute_s"] if p.workers > 1 else None,
                                r.get("gradient_bytes"), r["measure_host_s"], r["measure_usd"], r["run"]))
    raise RuntimeError("search did not end in 200 waves")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--goal", default="usd_per_1m_images")
    ap.add_argument("--target-images", type=float, default=1e5)
    ap.add_argument("--deadline", type=float, help="a deadline (s) for the goal's images")
    ap.add_argument("--budget-share", type=float, default=0.6, help="budget as a share of the grid's bill")
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    meta, space, runs = load_grid(Path(args.data))
    goal = Goal(args.goal, None if args.goal == "usd_per_1m_images" else args.target_images, args.deadline)
    true = truth(space, runs, goal)
    grid_bill = sum(sum(r["measure_usd"] for r in rs) / len(rs) for rs in runs.values())
    best_key = min(true, key=true.get)
    steps = meta["workload"]["steps_per_epoch"] + meta["workload"]["calibration_steps"]
    settings = Settings(goal, args.budget_share * grid_bill, min_effect=0.05, confidence=0.9, width=args.width,
                        steps_per_trial=steps)
    print(f"grid: {len(runs)} configurations, {sum(len(r) for r in runs.values())} recorded runs; "
          f"goal {goal.describe()}; grid's bill ${grid_bill:.5f} (each configuration once)")
    print("\n| configuration | runs | step s (geo mean) | spread of runs | goal | vs best |\n|---|---|---|---|---|---|")
    for k in sorted(true, key=true.get):
        ys = [r["step_time_s"] for r in runs[k]]
        spread = (max(ys) - min(ys)) / geo(ys)
        vs = f"{true[k] / true[best_key] - 1:+.1%}" if math.isfinite(true[k]) else "misses the deadline"
        print(f"| {k} | {len(ys)} | {geo(ys):.4g} | {spread:.1%} | {true[k]:.5g} | {vs} |")
    near = [k for k in true if true[k] <= 1.10 * true[best_key]]
    print(f"\nnear-ties (within 10 % of the best): {len(near)}: {', '.join(sorted(near, key=true.get))}")
    print("best strategy by worker count (over types): " + "; ".join(
        f"{m}: {min((k for k in true if space_point(space, k).workers == m), key=true.get)}"
        if any(math.isfinite(true[k]) for k in true if space_point(space, k).workers == m) else f"{m}: none feasible"
        for m in sorted({p.workers for p in space.points})))
    noise = [abs(math.log(r["step_time_s"] / geo([x["step_time_s"] for x in rs]))) for rs in runs.values() for r in rs]
    print(f"noise: mean |ln(run / configuration mean)| = {sum(noise) / len(noise):.1%} over {len(noise)} runs")
    within, fractions, errs = 0, [], defaultdict(list)
    picks = defaultdict(int)
    for seed in range(args.seeds):
        d, trials = replay(space, runs, settings, seed)
        pick = d.best.key if d.best else None
        picks[pick] += 1
        if pick and true[pick] <= 1.10 * true[best_key]:
            within += 1
        fractions.append(sum(t.usd for t in trials) / grid_bill)
        m = model_of(space, trials)
        seen = {t.point.key for t in trials}
        for p in space.points:
            if p.key not in seen:
                pr = predict(m, p)
                errs[p.kind].append(pr.step_time_s / geo([r["step_time_s"] for r in runs[p.key]]) - 1)
    print(f"\n| seeds | pick within 10 % of the best | mean share of the grid's bill spent | goal |\n|---|---|---|---|")
    print(f"| {args.seeds} | {within / args.seeds:.0%} ({within}) | {sum(fractions) / len(fractions):.1%} "
          f"(max {max(fractions):.1%}) | ≥ 90 % within 10 % at ≤ 35 % of the bill |")
    print(f"\nrecorded runs drawn a second time (a configuration measured more often than recorded): {REUSED[0]}")
    print("\npicks: " + ", ".join(f"{k} ×{n}" for k, n in sorted(picks.items(), key=lambda x: -x[1])))
    print("\n| strategy | held-out predictions | mean abs. error | mean signed error | worst |\n|---|---|---|---|---|")
    for kind, e in sorted(errs.items()):
        worst = max(e, key=abs)
        print(f"| {kind} | {len(e)} | {sum(map(abs, e)) / len(e):.1%} | {sum(e) / len(e):+.1%} | {worst:+.1%} |")
    print("\nLeave-one-out over the grid (fit on every other configuration's runs, predict this one):")
    print("\n| strategy | configurations | mean abs. error | worst | inside the 90 % interval |\n|---|---|---|---|---|")
    loo = defaultdict(list)
    for p in space.points:
        rest = [Trial(q, r["step_time_s"], r["t_compute_s"] if q.workers > 1 else None, r.get("gradient_bytes"),
                      r["measure_host_s"], r["measure_usd"]) for q in space.points if q.key != p.key
                for r in runs[q.key]]
        pr = predict(model_of(space, rest), p)
        y = geo([r["step_time_s"] for r in runs[p.key]])
        loo[p.kind].append((pr.step_time_s / y - 1, pr.low_s <= y <= pr.high_s))
    for kind, e in sorted(loo.items()):
        worst = max((x for x, _ in e), key=abs)
        print(f"| {kind} | {len(e)} | {sum(abs(x) for x, _ in e) / len(e):.1%} | {worst:+.1%} | "
              f"{sum(ok for _, ok in e)} of {len(e)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
