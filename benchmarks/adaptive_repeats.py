"""Adaptive repeats replayed on synthetic and recorded run-to-run noise (issue 20). Prints
figures; asserts nothing.

    .venv/bin/python benchmarks/adaptive_repeats.py [--trials 2000] [--seed 1]
        [--recorded RUN_DIR ...] [--no-variants] [--no-superiority]

Every trial is one experiment of two configurations A and B run in the interleaved order
(A B A B …, up to max_repeats rounds); after each round the real decision code
(harness.report.figures.adaptive.replay over harness.report.figures.sequential) decides
whether to go on. A trial's per-run throughput is 100 × ratio^[A] × exp(e), e the run-to-run
noise on the log scale with sd √ln(1 + CV²) (so CV is the run-to-run coefficient of
variation), drawn for the whole sequence of runs in the order they run:
- iid: independent runs;
- lag-1 ρ: an AR(1) series over the run order (consecutive runs, A then B, correlated);
- drift: + 1 % per run over the run order (a machine that speeds up: B, always right after
  A, gains 1 %);
- unequal: A's CV is the given one, B's four times it.
Per case: the share of trials ending "different" with the true winner, with the wrong one
(a winner named when |true difference| ≤ min_effect counts as wrong too), "equivalent",
"undecided"; the mean counted runs per configuration; the share decided after round 2; and
what the fixed design (3 counted runs each, verdict.compare on the same first 3 values)
says. Runs: the pair with one warm-up run, adaptive (Σ runs + 1) against fixed 3 + 3 + 1.

--recorded RUN_DIR replays recorded runs (results.csv: throughput and on-demand $ per 10⁶
images of the counted runs, per configuration in repeat order) and, resampling their
run-to-run residuals (log value − configuration mean, × √(n/(n−1)); a smoothed bootstrap),
runs the A/A, 10 % and 2× trials on that noise."""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import nct, t as t_dist

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.protocol import stats  # noqa: E402
from harness.report.figures.adaptive import Basis, replay  # noqa: E402
from harness.report.figures.sequential import DIFFERENT, EQUIVALENT, Design  # noqa: E402
from harness.report.figures.verdict import compare  # noqa: E402
from harness.stages.schedule import split_unit_name  # noqa: E402

RATIOS = (1.0, 1.05, 1.10, 1.20, 2.0)
CVS = (0.02, 0.03, 0.05, 0.10, 0.20, 0.30)
FIXED_REPEATS = 3


def noise(rng: np.random.Generator, trials: int, rounds: int, cv: float, *, rho: float = 0.0,
          drift: float = 0.0, cv_b: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Log-scale noise of A's and B's runs, shape (trials, rounds) each, over the run order."""
    n = 2 * rounds
    z = rng.standard_normal((trials, n))
    e = np.empty_like(z)
    e[:, 0] = z[:, 0]
    for j in range(1, n):
        e[:, j] = rho * e[:, j - 1] + math.sqrt(1 - rho * rho) * z[:, j]
    sd_a = math.sqrt(math.log1p(cv * cv))
    sd_b = math.sqrt(math.log1p((cv_b if cv_b is not None else cv) ** 2))
    trend = drift * np.arange(n)
    return e[:, 0::2] * sd_a + trend[0::2], e[:, 1::2] * sd_b + trend[1::2]


def fixed_verdicts(a: np.ndarray, b: np.ndarray, min_effect: float) -> np.ndarray:
    """verdict.compare's rule on the first FIXED_REPEATS runs of every trial, vectorised:
    +1 (A wins), −1 (B wins), 0 (no difference). Welch t on ln(mean ratio), delta-method
    errors; a difference when p < 0.05 and the 95 % interval is beyond the floor."""
    a, b = a[:, :FIXED_REPEATS], b[:, :FIXED_REPEATS]
    n = FIXED_REPEATS
    ma, mb = a.mean(1), b.mean(1)
    ra = a.std(1, ddof=1) / math.sqrt(n) / ma
    rb = b.std(1, ddof=1) / math.sqrt(n) / mb
    se = np.sqrt(ra ** 2 + rb ** 2)
    d = np.log(ma / mb)
    with np.errstate(divide="ignore", invalid="ignore"):  # identical resampled runs: se = 0
        df = se ** 4 / (ra ** 4 / (n - 1) + rb ** 4 / (n - 1))
        p = np.where(se > 0, 2 * t_dist.sf(np.abs(d) / se, df), np.where(d == 0, 1.0, 0.0))
        hw = np.where(se > 0, t_dist.ppf(0.975, df) * se, 0.0)
    lo, hi = np.expm1(d - hw), np.expm1(d + hw)
    up, down = lo > min_effect, hi < 1 / (1 + min_effect) - 1
    return np.where((p < 0.05) & up, 1, np.where((p < 0.05) & down, -1, 0))


CHECKED = {"trials": 0, "agree": 0}


def run_case(design: Design, ea: np.ndarray, eb: np.ndarray, ratio: float) -> dict:
    """Replay every trial; ratio = true throughput A / B."""
    a_all, b_all = 100.0 * ratio * np.exp(ea), 100.0 * np.exp(eb)
    truth = None if abs(math.log(ratio)) <= design.floor_log + 1e-12 else ("A" if ratio > 1 else "B")
    k = {"right": 0, "wrong": 0, "equivalent": 0, "undecided": 0, "runs": 0, "round2": 0}
    fixed = fixed_verdicts(a_all, b_all, design.min_effect)
    named = np.where(fixed == 1, "A", np.where(fixed == -1, "B", ""))
    k["fixed_right"] = int(((fixed != 0) & (named == (truth or "-"))).sum())
    k["fixed_wrong"] = int(((fixed != 0) & (named != (truth or "-"))).sum())
    # The vectorised rule is checked against verdict.compare itself on a few trials per case.
    for i in range(min(10, len(a_all))):
        v = compare("A", stats.between_runs(a_all[i, :FIXED_REPEATS].tolist()), "B",
                    stats.between_runs(b_all[i, :FIXED_REPEATS].tolist()))
        CHECKED["trials"] += 1
        CHECKED["agree"] += (v.better or "") == named[i]
    for a, b in zip(a_all.tolist(), b_all.tolist()):
        out = replay([Basis("throughput", {"A": a, "B": b})], design)
        c = out.comparisons["throughput"][0]
        if c.state == DIFFERENT:
            k["right" if c.better == truth else "wrong"] += 1
        else:
            k["equivalent" if c.state == EQUIVALENT else "undecided"] += 1
        k["runs"] += sum(s.runs for s in out.configs)
        k["round2"] += c.final and c.round == 2 and c.state != "undecided"
    n = len(a_all)
    return {key: val / n for key, val in k.items()}


HEADER = (f"{'case':<26} {'right':>6} {'wrong':>6} {'equiv':>6} {'undec':>6} {'runs/cfg':>8} "
          f"{'@2':>5} {'pair runs':>14} {'fixed-3 right':>13} {'wrong':>6}")


def row(label: str, r: dict) -> str:
    total = 2 * r["runs"] / 2 + 1  # r["runs"] is Σ runs of both configurations per trial
    fixed = 2 * FIXED_REPEATS + 1
    pct = lambda x: f"{100 * x:5.1f}%"  # noqa: E731
    return (f"{label:<26} {pct(r['right']):>6} {pct(r['wrong']):>6} {pct(r['equivalent']):>6} "
            f"{pct(r['undecided']):>6} {r['runs'] / 2:8.2f} {pct(r['round2']):>5} "
            f"{total:5.2f} vs {fixed} {total / fixed:4.0%} {pct(r['fixed_right']):>13} {pct(r['fixed_wrong']):>6}")


def table(title: str, design: Design, trials: int, seed: int, ratios, cvs, results: list, **kw) -> None:
    print(f"\n{title}\n{HEADER}")
    for ratio in ratios:
        for cv in cvs:
            rng = np.random.default_rng([seed, int(ratio * 1000), int(cv * 1000)])
            ea, eb = noise(rng, trials, design.max_repeats, cv, **kw)
            r = run_case(design, ea, eb, ratio)
            results.append((title, ratio, cv, r))
            name = "A/A" if ratio == 1 else f"A = {ratio:g} × B"
            print(row(f"{name}, CV {100 * cv:g} %", r), flush=True)


def read_recorded(run_dir: Path) -> dict[str, dict[str, list]]:
    """Per basis, per configuration: the counted runs' values in repeat order (None: none)."""
    path = run_dir / "results.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no results.csv (give a run directory made by harness run)")
    cols = {"throughput": "throughput_images_per_s", "on-demand $ per 10⁶ images": "cost_per_1m_images_on_demand_usd"}
    runs: dict[str, list[tuple[int, dict]]] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            base, rep = split_unit_name(r["config"])
            if rep == 0:
                continue  # warm-up: kept, never counted
            runs.setdefault(base, []).append((rep or 1, r))
    out: dict[str, dict[str, list]] = {b: {} for b in cols}
    for cfg, rs in runs.items():
        for basis, col in cols.items():
            vals = []
            for _, r in sorted(rs, key=lambda x: x[0]):
                ok = r.get("status") == "succeeded" and r.get(col) not in (None, "")
                vals.append(float(r[col]) if ok and float(r[col]) > 0 else None)
            out[basis][cfg] = vals
    return {b: v for b, v in out.items() if any(x is not None for xs in v.values() for x in xs)}


def recorded(run_dir: Path, design: Design, trials: int, seed: int) -> None:
    data = read_recorded(run_dir)
    print(f"\nRecorded: {run_dir}")
    for basis, per in data.items():
        for cfg, vals in per.items():
            shown = ", ".join("failed" if v is None else f"{v:.4g}" for v in vals)
            print(f"  {basis}, {cfg}: {shown}")
    bases = [Basis(name, per, higher_is_better=name == "throughput",
                   better_word="faster" if name == "throughput" else "cheaper") for name, per in data.items()]
    out = replay(bases, design)
    print(f"  replayed: {out.rounds} round(s); next round: {', '.join(out.next_round) or 'none (finished)'}")
    for s in out.configs:
        print(f"    {s.config}: {s.state} — {s.why}")
    for t in out.texts(bases):
        print(f"    {t}")
    resid = []
    for vals in data.get("throughput", {}).values():
        logs = [math.log(v) for v in vals if v is not None]
        if len(logs) >= 2:
            m = sum(logs) / len(logs)
            resid += [(x - m) * math.sqrt(len(logs) / (len(logs) - 1)) for x in logs]
    if len(resid) < 4:
        print("  (fewer than 4 residuals: no resampled trials)")
        return
    sd = float(np.std(resid, ddof=1))
    cv = math.sqrt(math.expm1(sd * sd))
    # Smoothed bootstrap: a handful of residuals drawn as they are would often give two
    # identical runs; Silverman's bandwidth, rescaled so the variance stays the pool's.
    h = 1.06 * sd * len(resid) ** -0.2
    print(f"  resampled noise: {len(resid)} residuals of throughput, CV ≈ {100 * cv:.1f} %, "
          f"smoothed bootstrap (bandwidth {h:.3f} on the log scale)\n  {HEADER}")
    pool = np.array(resid)

    def draw(rng: np.random.Generator) -> np.ndarray:
        e = rng.choice(pool, size=(trials, design.max_repeats)) + h * rng.standard_normal((trials, design.max_repeats))
        return e / math.sqrt(1 + (h / sd) ** 2)

    for ratio in (1.0, 1.10, 2.0):
        rng = np.random.default_rng([seed, 7, int(ratio * 1000)])
        ea, eb = draw(rng), draw(rng)
        r = run_case(design, ea, eb, ratio)
        print("  " + row("A/A" if ratio == 1 else f"A = {ratio:g} × B", r), flush=True)


def oracle_power(ratio: float, cv: float, n: int, floor_log: float, alpha: float = 0.025,
                 sigma_known: bool = True) -> float:
    """PURE. The power of the best test any design could use to call A faster than B by more
    than the floor, given at most n runs of each: all n runs each, one-sided at level `alpha`
    at the floor (a sequential design stops with at most this information). With σ known:
    the z-test (Neyman–Pearson), a bound for every design; with σ unknown: the two-sample
    t-test, df 2n − 2 (the most powerful test that does not depend on the noise's scale, which
    this design does not know either). Bounds, not designs."""
    sigma = math.sqrt(math.log1p(cv * cv))
    shift = (math.log(ratio) - floor_log) / (sigma * math.sqrt(2.0 / n))
    if sigma_known:
        return stats.normal_cdf(shift - stats.normal_quantile(1 - alpha))
    df = 2 * n - 2
    return float(nct.sf(t_dist.ppf(1 - alpha, df), df, shift))


def _wilson(p: float, n: int) -> str:
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{100 * max(0.0, centre - half):.1f}–{100 * (centre + half):.1f} %"


def summary(results: list, design: Design, trials: int) -> None:
    print("\nGoals (95 % binomial intervals over the trials in brackets)")
    stress = "−0.3"
    default = [x for x in results if "floor 0" not in x[0]]
    groups = (("iid, lag-1 +0.5, drift, unequal noise", [x for x in default if stress not in x[0]]),
              ("stress: lag-1 −0.3 (anti-correlated consecutive runs)", [x for x in default if stress in x[0]]))
    for label, rows in groups:
        aa = [(t, cv, r["wrong"]) for t, ratio, cv, r in rows if ratio == 1.0]
        if not aa:
            continue
        t, cv, worst = max(aa, key=lambda x: x[2])
        verdict = "met" if worst <= 0.05 else "NOT met"
        print(f"  A/A false 'different' (goal ≤ 5 %), {label}: at most {100 * worst:.1f} % "
              f"[{_wilson(worst, trials)}] over {len(aa)} cases "
              f"(worst: {t.split(':')[0]}, CV {100 * cv:g} %) — {verdict}")
        over = [f"CV {100 * c:g} % {100 * w:.1f} %" for _, c, w in aa if w > 0.05]
        if over:
            print(f"    above 5 %: {', '.join(over)}")
    floor = [r for t, ratio, cv, r in default if ratio == 1.05 and t.startswith("iid")]
    if floor:
        print(f"  a true difference at the floor (5 %) called 'different': at most "
              f"{100 * max(r['wrong'] for r in floor):.1f} % (iid, any CV; budget 2.5 % per direction); "
              f"called 'equivalent': at most {100 * max(r['equivalent'] for r in floor):.1f} % (budget 5 %)")
    main = sorted((cv, r["right"]) for t, ratio, cv, r in results if ratio == 1.10 and t.startswith("iid"))
    held = [f"{100 * cv:g} %" for cv, p in main if p >= 0.8]
    print(f"  power on a true 10 % difference within {design.max_repeats} runs (goal ≥ 80 %), iid: "
          + ", ".join(f"CV {100 * cv:g} % {100 * p:.0f} %" for cv, p in main)
          + f" — holds at CV {', '.join(held) if held else 'none of these'}")
    n = design.max_repeats
    print(f"    the most any design can have with these error rates ({n} runs each, one-sided at level 2.5 % "
          "at the floor; oracle_power), σ known (z-test) / σ unknown (t-test, df "
          f"{2 * n - 2}): " + ", ".join(f"CV {100 * cv:g} % {100 * oracle_power(1.10, cv, n, design.floor_log):.0f} / "
                                       f"{100 * oracle_power(1.10, cv, n, design.floor_log, sigma_known=False):.0f} %"
                                       for cv, _ in main))
    reach = [(cv, p) for cv, p in main if oracle_power(1.10, cv, n, design.floor_log) >= 0.8]
    missed = [f"CV {100 * cv:g} % ({100 * p:.0f} %)" for cv, p in reach if p < 0.8]
    print(f"    CVs of this table where any design can reach 80 %: {', '.join(f'{100 * cv:g} %' for cv, _ in reach) or 'none'}"
          f"; this one {'falls short at ' + ', '.join(missed) if missed else 'reaches it there'}")
    sup = [(cv, r["right"]) for t, ratio, cv, r in results if ratio == 1.10 and t.startswith("floor 0")]
    if sup:
        print("    with floor 0 (not the default; its A/A rate above): "
              + ", ".join(f"CV {100 * cv:g} % {100 * p:.0f} % (bounds {100 * oracle_power(1.10, cv, n, 0.0):.0f} / "
                          f"{100 * oracle_power(1.10, cv, n, 0.0, sigma_known=False):.0f} %)" for cv, p in sup))
    print("  runs (iid, mean over the CVs): counted runs per configuration, and the pair with one warm-up "
          f"against the fixed design's {2 * FIXED_REPEATS + 1}:")
    for ratio in RATIOS:
        rs = [r for t, q, cv, r in results if q == ratio and t.startswith("iid log-normal")]
        if rs:
            runs = sum(r["runs"] for r in rs) / len(rs)
            print(f"    {'A/A' if ratio == 1 else f'A = {ratio:g} × B':<14} {runs / 2:.2f} per configuration; "
                  f"pair {runs + 1:.2f} = {(runs + 1) / (2 * FIXED_REPEATS + 1):.0%} of fixed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--recorded", nargs="*", default=[], type=Path)
    ap.add_argument("--no-variants", action="store_true", help="only the iid table")
    ap.add_argument("--no-superiority", action="store_true", help="skip the floor-0 comparison table")
    args = ap.parse_args()
    design = Design()
    t0 = time.monotonic()
    infos = tuple(n / design.max_repeats for n in range(2, design.max_repeats + 1))
    p_diff, p_eq = design.levels(infos)
    print(f"Design: max_repeats {design.max_repeats}, min_effect {design.min_effect:g}, "
          f"α different {design.alpha_different:g} (ρ {design.rho_different:g}), "
          f"α equivalent {design.alpha_equivalent:g} (ρ {design.rho_equivalent:g}), "
          f"futility {design.futility:g}; {args.trials} trials per case, seed {args.seed}")
    print("  nominal one-sided levels per look (n = 2 … 6 runs each): different "
          + " ".join(f"{p:.4f}" for p in p_diff) + "; equivalent " + " ".join(f"{p:.4f}" for p in p_eq))
    print("  columns: right/wrong = 'different' naming the true/a wrong winner; equiv; undec; runs/cfg = "
          "mean counted runs per configuration; @2 = decided after round 2; pair runs = both "
          "configurations + 1 warm-up, adaptive vs fixed; fixed-3 = verdict on the first 3 runs each")
    results: list = []
    table("iid log-normal noise", design, args.trials, args.seed, RATIOS, CVS, results)
    # where the power goal turns from attainable to not (the bounds in the summary)
    table("iid, a 10 % difference near the limit of what 6 runs can find", design, args.trials, args.seed, (1.10,),
          (0.022, 0.025, 0.0288), results)
    if not args.no_variants:
        short = (1.0, 1.05, 1.10, 2.0)
        cvs = (0.02, 0.05, 0.10, 0.30)
        table("lag-1 autocorrelation +0.5 over the run order", design, args.trials, args.seed, short, cvs,
              results, rho=0.5)
        table("lag-1 autocorrelation −0.3 over the run order", design, args.trials, args.seed, short, cvs,
              results, rho=-0.3)
        table("drift: +1 % per run over the run order", design, args.trials, args.seed, short, cvs,
              results, drift=0.01)
        for cv in (0.02, 0.05):
            table(f"unequal noise: A CV {100 * cv:g} %, B CV {400 * cv:g} %", design, args.trials, args.seed,
                  (1.0, 1.05, 1.10), (cv,), results, cv_b=4 * cv)
    if not args.no_superiority:
        sup = Design(floor=0.0)
        table("floor 0: 'different' = the interval excludes 0 (not the default), iid", sup, args.trials,
              args.seed, (1.0, 1.05, 1.10), CVS, results)
    summary(results, design, args.trials)
    for run_dir in args.recorded:
        recorded(run_dir, design, args.trials, args.seed)
    print(f"\nfixed-3 verdicts (vectorised) agree with verdict.compare on {CHECKED['agree']} of "
          f"{CHECKED['trials']} trials checked; {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
