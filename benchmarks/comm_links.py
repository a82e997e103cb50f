"""Direct communication share of the same configurations in runs at different link rates
(e.g. the sandbox rehearsal at 10gbit and at 10mbit): per run and configuration, t_compute,
t_step, communication and CPU-contention seconds per step; then, for each pair of runs,
the change in communication time the link change implies (wire bytes per step × 8 ×
(1/B₂ − 1/B₁)) against the change measured.

    python benchmarks/comm_links.py runs/reh-10gbit runs/reh-10mbit [more runs…]
"""

from __future__ import annotations

import sys
from itertools import combinations

from harness.report.figures.analysis import analyze_dir


def rows(run_dir: str) -> dict:
    a = analyze_dir(run_dir)
    out = {}
    for sc in a.scaling:
        c = sc.comm
        if c is None or c.direct is None:
            continue
        d = c.direct
        out[sc.config] = {
            "run": run_dir, "link": c.link_bits_per_s, "t_compute": d.t_compute_s, "t_step": d.t_step_s,
            "share": d.value, "hw": d.half_width, "comm": d.t_step_s - d.t_compute_s,
            "contention": (d.t_compute_s - c.baseline_step_s) if c.baseline_step_s else None,
            "baseline_share": c.baseline_share, "wire": (c.wire_bytes_per_step or 0) * (c.byte_ratio or 1.0),
            "ratio": c.byte_ratio, "shares_cores": c.shares_cores}
    return out


def _f(x, fmt="{:.4g}"):
    return "n/a" if x is None else fmt.format(x)


def main(argv: list[str]) -> int:
    runs = [rows(d) for d in argv]
    print("| run | config | link Mbit/s | t_compute s | t_step s | comm s | contention s | direct share | "
          "baseline share | bytes ratio | shared cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        for cfg, x in r.items():
            print(f"| {x['run']} | {cfg} | {_f(x['link'] and x['link'] / 1e6)} | {_f(x['t_compute'])} | "
                  f"{_f(x['t_step'])} | {_f(x['comm'])} | {_f(x['contention'])} | {x['share']:.1%} ± "
                  f"{_f(x['hw'], '{:.1%}')} | {_f(x['baseline_share'], '{:.1%}')} | {_f(x['ratio'], '{:.3f}')} | "
                  f"{x['shares_cores']} |")
    print()
    print("| config | from | to | Δcomm implied by the link s | Δcomm measured s | Δcontention s |")
    print("|---|---|---|---|---|---|")
    for a, b in combinations(runs, 2):
        for cfg in a.keys() & b.keys():
            x, y = a[cfg], b[cfg]
            if not x["link"] or not y["link"] or x["link"] == y["link"]:
                continue
            implied = x["wire"] * 8 * (1 / y["link"] - 1 / x["link"])
            dc = (y["contention"] - x["contention"]) if None not in (x["contention"], y["contention"]) else None
            print(f"| {cfg} | {x['run']} | {y['run']} | {implied:+.4g} | {y['comm'] - x['comm']:+.4g} | {_f(dc, '{:+.4g}')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
