"""The decision plot: time against money, one point per configuration with its 95 %
intervals, the cheaper-and-faster frontier marked. Same data as the recommendation
(RunAnalysis.groups and .recommendation), so the picture and the text agree.

With a target reached in every counted run: time to target (s) against on-demand $ to
reach it; otherwise seconds per 10⁶ images (10⁶ / throughput) against on-demand $ per
10⁶ images. Lower-left is better on both axes."""

from __future__ import annotations

from typing import Optional

from harness.report.figures.analysis import RunAnalysis
from harness.report.write.blocks import Image
from harness.protocol.stats import Estimate


def decision_points(a: RunAnalysis) -> tuple[str, list[tuple[str, Estimate, Estimate]]]:
    """(basis, [(config, time estimate, $ estimate)]) for the configurations the
    recommendation ranked; time in s (to target, or per 10⁶ images), $ on-demand."""
    r = a.recommendation
    out = []
    if r.basis == "none":  # not ranked (different work, no target reached): nothing to place
        return r.basis, out
    for g in a.groups:
        if not g.counted:
            continue
        if r.basis == "target":
            t, usd = g.time_to_target, g.usd_to_target.get("on_demand")
        else:
            thr = g.throughput
            t = None
            if thr is not None and thr.mean > 0:
                # 10⁶ / x keeps the relative error (delta method).
                t = Estimate(1e6 / thr.mean, None if thr.se is None else 1e6 / thr.mean * thr.se / thr.mean,
                             thr.df, thr.n, thr.method)
            usd = g.usd_per_million.get("on_demand")
        if t is not None and usd is not None:
            out.append((g.config, t, usd))
    return r.basis, out


def frontier(points: list[tuple[str, float, float]]) -> list[str]:
    """Names of the points no other point beats on both time and $ (ties kept), by $."""
    keep = [p for p in points if not any(q[1] <= p[1] and q[2] <= p[2] and (q[1] < p[1] or q[2] < p[2])
                                         for q in points)]
    return [p[0] for p in sorted(keep, key=lambda p: (p[2], p[1]))]


def decision_plot(a: RunAnalysis, canvas_cls, colors) -> Optional[Image]:
    basis, pts = decision_points(a)
    if not pts:
        return None
    c = canvas_cls(6.0, 3.8)
    ax = c.fig.add_subplot()
    front = frontier([(n, t.mean, u.mean) for n, t, u in pts])
    for i, (name, t, usd) in enumerate(pts):
        on = name in front
        ax.errorbar([usd.mean], [t.mean], xerr=[[usd.half_width or 0.0], [usd.half_width or 0.0]],
                    yerr=[[t.half_width or 0.0], [t.half_width or 0.0]], fmt="o" if on else "s",
                    color=colors[i % len(colors)], capsize=3, markersize=7 if on else 5,
                    label=f"{name} (n = {t.n})")
        ax.annotate(name, (usd.mean, t.mean), textcoords="offset points", xytext=(5, 5), fontsize=7)
    if len(front) > 1 or len(pts) > 1:
        fx = [next(u.mean for n, _, u in pts if n == f) for f in front]
        fy = [next(t.mean for n, t, _ in pts if n == f) for f in front]
        ax.plot(fx, fy, linestyle="--", color="#555555", linewidth=1, label="cheaper-and-faster frontier")
    ax.set_xlabel("on-demand USD " + ("to reach the target" if basis == "target" else "per 10⁶ images"))
    ax.set_ylabel("seconds " + ("to target" if basis == "target" else "per 10⁶ images"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    r = a.recommendation
    winner = r.fastest.config
    ax.set_title(("Fastest beyond noise: " + winner) if winner else
                 "No configuration is faster beyond noise", fontsize=10)
    return c.png("decision.png", "Decision plot: time against on-demand $, one point per configuration "
                                 "(mean over counted runs, bars: 95 % intervals); dashed: the frontier "
                                 "where nothing is both cheaper and faster; lower left is better")
