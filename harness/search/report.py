"""What a search found, as runs/<search-id>/search.md and space.png: the recommendation with
its predicted and measured figures, the runners-up within noise and the finalists'
verdicts, every point of the space (measured or predicted with its 90 % interval), the
frontier of $ against time, and what the search cost against the predicted full grid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

from harness.report.figures import sequential
from harness.report.figures.perf_model import Point, Prediction, predict
from harness.search.acquire import TrialCost, learn_overhead
from harness.search.decide import Decision, Settings, Trial, goal_values, spent
from harness.search.space import Space


def rows(space: Space, settings: Settings, d: Decision) -> list[tuple[Point, Prediction, float, float, float]]:
    """(point, prediction, goal, goal low, goal high) for every predictable point."""
    out = []
    for p in space.points:
        try:
            pr = predict(d.model, p)
        except ValueError:
            continue
        price = space.prices[p.instance_type]
        g = settings.goal
        out.append((p, pr, g.value(p, pr.step_time_s, price), g.value(p, pr.low_s, price),
                    g.value(p, pr.high_s, price)))
    return sorted(out, key=lambda r: r[2])


def grid_bill(space: Space, settings: Settings, d: Decision, trials: Sequence[Trial]) -> tuple[float, float]:
    """(predicted bill of measuring every point once, its slow end): measured points at
    what they cost, the others at the trial cost model's prediction (and at the 90 % slow end)."""
    cost = TrialCost(settings.steps_per_trial, learn_overhead([(t.seconds / t.point.hosts, t.step_time_s)
                                                               for t in trials], settings.steps_per_trial))
    mid = hi = 0.0
    for p, pr, *_ in rows(space, settings, d):
        paid = [t.usd for t in trials if t.point.key == p.key]
        if paid:
            mid += paid[0]
            hi += paid[0]
        else:
            price = space.prices[p.instance_type]
            mid += cost.usd(p, pr.step_time_s, price)
            hi += cost.usd(p, pr.high_s, price)
    return mid, hi


def frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points nothing else beats on both (time, $), sorted by time."""
    idx = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    out, best = [], math.inf
    for i in idx:
        if points[i][1] < best:
            out.append(i)
            best = points[i][1]
    return out


def markdown(space: Space, settings: Settings, d: Decision, trials: Sequence[Trial], plot: Optional[str],
             lost_usd: float = 0.0) -> str:
    g = settings.goal
    unit = "host-hours" if settings.host_hours else "$"
    lines = [f"# Search: {g.describe()}", ""]
    if d.best is None:
        lines += [f"No measured configuration meets the goal's constraints. Stopped: {d.reason}.", ""]
    else:
        pr = predict(d.model, d.best)
        vals = goal_values(space, g, trials, d.best)
        lines += ["## Recommendation", "",
                  f"**{d.best.key}**: {d.best.hosts} host(s) of {d.best.instance_type}, {d.best.strategy}, "
                  f"{d.best.workers} worker(s)"
                  + (f", {d.best.threads} intra-op thread(s)" if d.best.threads else "")
                  + (f", batch {d.best.batch} per worker" if d.best.batch_axis else "") + ".", "",
                  f"- measured: {_geo(vals):.4g} {g.unit} over {len(vals)} run(s); step {pr.measured_s:.4g} s",
                  f"- the model's value at this point (fitted): step {pr.fitted_s:.4g} s "
                  f"({pr.fitted_s / pr.measured_s - 1:+.1%} from the measurement)",
                  f"- stopped: {d.reason}", ""]
        lines += _runners_up(space, settings, d)
    lines += [f"## The space ({len(space.points)} configurations, {len({t.point.key for t in trials})} measured)", "",
              f"Step time per worker step (s); goal in {g.unit}; 90 % prediction interval for unmeasured points "
              f"(docs/search.md, \"The model\"); noise between repeats: {d.model.noise_source}.", "",
              "| configuration | hosts | measured | step s | 90 % interval | goal | goal interval | notes |",
              "|---|---|---|---|---|---|---|---|"]
    for p, pr, v, lo, hi in rows(space, settings, d):
        meas = f"{pr.runs} run(s)" if pr.runs else "predicted"
        lines.append(f"| {p.key} | {p.hosts} | {meas} | {pr.step_time_s:.4g} | {pr.low_s:.4g}–{pr.high_s:.4g} | "
                     f"{v:.4g} | {lo:.4g}–{hi:.4g} | {'; '.join(pr.extrapolated)} |")
    lines += ["", *_model_lines(d), ""]
    mid, hi = grid_bill(space, settings, d, trials)
    paid = spent(trials) + lost_usd
    lines += ["## What the search cost", "",
              f"- spent: ${paid:.4g} in {len(trials)} trial(s) (each a normal run under trials/; its whole bill, "
              f"set-up and collection included" + (f"; ${lost_usd:.4g} of it on failed trials" if lost_usd else "")
              + f"); budget {settings.budget_usd:.4g} {unit}",
              f"- the full grid, every configuration measured once (predicted): ${mid:.4g} (up to ${hi:.4g} at "
              f"the intervals' slow ends): the search spent {paid / mid:.0%} of it" if mid else "- full grid: n/a", ""]
    if plot:
        lines += [f"![The space: $ against time for the goal; dots measured, bars predicted with 90 % intervals; "
                  f"line: the frontier]({plot})", ""]
    return "\n".join(lines)


def _runners_up(space: Space, settings: Settings, d: Decision) -> list[str]:
    out = ["### Runners-up within noise", ""]
    for c in d.verdicts:
        out.append(f"- {sequential.describe(c, settings.goal.unit, better_word='cheaper')}"
                   if c.state != sequential.UNDECIDED else
                   f"- {c.b}: undecided against {c.a} after {c.n_a} and {c.n_b} run(s) ({c.reason or 'open'}): "
                   f"it may be as good")
    for x in d.scored:
        if x.value_low <= d.f_best * (1 + settings.min_effect) and x.p_better > 0.01:
            out.append(f"- {x.point.key} (not measured): predicted {x.value:.4g} {settings.goal.unit}, 90 % interval "
                       f"{x.value_low:.4g}–{x.value_high:.4g}; chance to beat the best by more than "
                       f"{settings.min_effect:.0%}: {x.p_better:.1%}")
    return out + ([""] if len(out) > 2 else ["- none: no other measured configuration within min_effect of the best, and no unmeasured one "
                                            "likely to beat it", ""])


def _model_lines(d: Decision) -> list[str]:
    m = d.model
    out = ["### The fitted model", "",
           f"- compute per step c ∝ vCPUs^−γ across types: γ = {m.gamma:.2f}"
           + (" (fitted)" if m.gamma_fitted else " (assumed: one vCPU count measured)"),
           f"- gradient bytes: {m.gradient_bytes:.6g}" if m.gradient_bytes else "- gradient bytes: not measured yet"]
    for kind, f in m.fits.items():
        if f.n:
            t = f.theta
            out.append(f"- {kind} ({f.n} runs): θc {t[0]:.3g}, θb {t[1]:.3g} (overlap φ = {f.overlap:.0%}), "
                       f"θm {t[2]:.3g}, θlog {t[3]:.3g}, θ0 {t[4]:.3g}, θ1/m {t[5]:.3g}")
    return out


def _geo(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def plot(space: Space, settings: Settings, d: Decision, path: Path) -> Optional[str]:
    from harness.report.write.canvas import Canvas, styled

    rs = rows(space, settings, d)
    if not rs:
        return None

    @styled
    def draw() -> bytes:
        c = Canvas(7.5, 5.0)
        ax = c.fig.add_subplot(1, 1, 1)
        g = settings.goal
        pts = []
        for p, pr, *_ in rs:
            price = space.prices[p.instance_type]
            t, lo, hi = (g.seconds(p, y) for y in (pr.step_time_s, pr.low_s, pr.high_s))
            usd, ulo, uhi = (g.dollars(p, y, price) for y in (pr.step_time_s, pr.low_s, pr.high_s))
            pts.append((t, usd))
            style = dict(fmt="o", color="#1f77b4") if pr.runs else dict(fmt="s", color="#ff7f0e", alpha=0.6)
            ax.errorbar([t], [usd], xerr=[[t - lo], [hi - t]], yerr=[[usd - ulo], [uhi - usd]], ms=4, **style)
            ax.annotate(p.key, (t, usd), fontsize=6, xytext=(3, 3), textcoords="offset points")
        fr = frontier(pts)
        ax.plot([pts[i][0] for i in fr], [pts[i][1] for i in fr], "--", color="#2ca02c", lw=1)
        ax.set_xlabel(f"seconds for {g.images():g} images")
        ax.set_ylabel(f"on-demand $ for {g.images():g} images")
        ax.set_title("measured (circles) and predicted (squares, 90 % intervals); dashed: frontier", fontsize=9)
        return c.png("space.png", "the search space").png

    path.write_bytes(draw())
    return path.name


def write(search_dir: Path, space: Space, settings: Settings, d: Decision, trials: Sequence[Trial]) -> Path:
    name = plot(space, settings, d, search_dir / "space.png") if d.model is not None else None
    out = search_dir / "search.md"
    import json

    state = search_dir / "search.json"
    lost = json.loads(state.read_text()).get("lost_usd", 0.0) if state.is_file() else 0.0
    out.write_text(markdown(space, settings, d, trials, name, lost) if d.model is not None
                   else f"# Search\n\nNothing measured: {d.reason}\n", encoding="utf-8")
    return out
