"""Pure cost figures per configuration, on-demand and spot side by side.

Billing model: every host named in the configuration's config_start record is billed, pro
rata per second, for the configuration's whole wall time (config_start → config_end), the
time it was held for this configuration whether busy or not. The start-up, training,
per-epoch, per-image and to-target figures are the same hourly rate over the seconds of
that part. Every figure carries the inputs that produce it ("2 hosts × $0.526/h × 143.2 s")
and the price sources. Prices come from harness.prices (inventory, prices.json, catalog);
an unknown price gives "n/a" and the reason, never a guess. Formulas: docs/metrics.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from harness.prices import Catalog, HostPrice, LivePrices, Price, parse_live_prices, resolve_host_price
from harness.report.read.records import RunData
from harness.report.figures.metrics import ConfigMetrics

SECONDS_PER_HOUR = 3600.0
MILLION = 1_000_000

PRICINGS = ("on_demand", "spot")
PRICING_LABEL = {"on_demand": "on-demand", "spot": "spot"}


def fmt_usd(x: Optional[float]) -> str:
    """Dollars: cents from $1 up; below, 4 significant digits (short runs cost fractions
    of a cent, and those digits are what tells configurations apart)."""
    if x is None:
        return "n/a"
    if x == 0:
        return "$0"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    # below a dollar: 4 significant digits, positional (0.00002634, never 2.634e-05)
    return f"${x:.{3 - math.floor(math.log10(abs(x)))}f}"


def _s(x: float) -> str:
    return f"{x:.6g}"


@dataclass(frozen=True)
class CostFigure:
    usd: Optional[float]
    inputs: str  # the formula with its numbers; empty when usd is None
    reason: str = ""  # why usd is None

    @property
    def text(self) -> str:
        return f"{fmt_usd(self.usd)} = {self.inputs}" if self.usd is not None else f"n/a ({self.reason})"


@dataclass(frozen=True)
class Rate:
    """The configuration's combined hourly rate under one pricing."""
    pricing: str  # "on_demand" or "spot"
    usd_per_hour: Optional[float]  # sum over hosts
    text: str  # "2 hosts × $0.526/h" or "($0.526/h h1 + $0.17/h h2)"
    sources: tuple[str, ...]
    reason: str = ""


@dataclass
class CostSet:
    rate: Rate
    billed: CostFigure
    startup: CostFigure
    training: CostFigure
    per_epoch: CostFigure
    per_million_images: CostFigure  # at steady state (warm-up excluded)
    to_target: CostFigure
    per_million_images_end_to_end: CostFigure = CostFigure(None, "", "not computed")

    def figures(self) -> list[tuple[str, CostFigure]]:
        return [("billed", self.billed), ("startup", self.startup), ("training", self.training),
                ("per_epoch", self.per_epoch), ("per_1m_images", self.per_million_images),
                ("per_1m_images_end_to_end", self.per_million_images_end_to_end),
                ("to_target", self.to_target)]


@dataclass
class ConfigCost:
    config: str
    host_prices: list[HostPrice]
    billed_wall_s: Optional[float]
    billed_method: str
    on_demand: CostSet
    spot: CostSet
    notes: list[str] = field(default_factory=list)

    def of(self, pricing: str) -> CostSet:
        return self.on_demand if pricing == "on_demand" else self.spot


def combined_rate(prices: Sequence[HostPrice], pricing: str) -> Rate:
    """Sum of the hosts' hourly prices; unknown when any host's price is unknown."""
    chosen: list[tuple[str, Price]] = [(hp.host, getattr(hp, pricing)) for hp in prices]
    if not chosen:
        return Rate(pricing, None, "", (), "no hosts recorded for this configuration")
    unknown: dict[str, list[str]] = {}  # same reason on several hosts is said once
    for host, p in chosen:
        if not p.known:
            unknown.setdefault(p.reason.removeprefix(f"host {host}: "), []).append(host)
    if unknown:
        return Rate(pricing, None, "", (), "; ".join(
            f"host{'s' if len(hs) > 1 else ''} {', '.join(hs)}: {why}" for why, hs in unknown.items()))
    values = [p.usd_per_hour for _, p in chosen]
    total = math.fsum(values)
    if len(set(values)) == 1:
        n = len(values)
        text = f"{n} host{'s' if n > 1 else ''} × ${values[0]:g}/h"
    else:
        text = "(" + " + ".join(f"${p.usd_per_hour:g}/h {h}" for h, p in chosen) + ")"
    sources = tuple(dict.fromkeys(p.source for _, p in chosen))
    return Rate(pricing, total, text, sources)


def cost_over(rate: Rate, seconds: Optional[float], what: str, *, divisor: Optional[float] = None,
              divisor_text: str = "") -> CostFigure:
    """rate × seconds / 3600, optionally ÷ divisor; `what` names the seconds when missing."""
    if rate.usd_per_hour is None:
        return CostFigure(None, "", f"no {PRICING_LABEL[rate.pricing]} price: {rate.reason}")
    if seconds is None:
        return CostFigure(None, "", f"no {what}")
    usd = rate.usd_per_hour * seconds / SECONDS_PER_HOUR
    inputs = f"{rate.text} × {_s(seconds)} s"
    if divisor is not None:
        if divisor <= 0:
            return CostFigure(None, "", f"no {divisor_text} completed")
        usd /= divisor
        inputs += f" ÷ {_s(divisor)} {divisor_text}"
    return CostFigure(usd, inputs)


def per_million_images(rate: Rate, throughput: Optional[float]) -> CostFigure:
    """rate / 3600 × 10⁶ / throughput: the hosts' cost of 10⁶ images at steady state."""
    if rate.usd_per_hour is None:
        return CostFigure(None, "", f"no {PRICING_LABEL[rate.pricing]} price: {rate.reason}")
    if not throughput:
        return CostFigure(None, "", "no steady-state throughput")
    return CostFigure(rate.usd_per_hour / SECONDS_PER_HOUR * MILLION / throughput,
                      f"{rate.text} × 10⁶ images ÷ {_s(throughput)} images/s")


def billed_wall(run: RunData, m: ConfigMetrics) -> tuple[Optional[float], str]:
    """config_start → config_end; without config_end, to the last record of the configuration."""
    start = run.control_first("config_start", m.config)
    t0 = start.get("t_wall") if start else None
    if not isinstance(t0, (int, float)):
        return None, "no config_start record: billed time unknown"
    end = run.control_first("config_end", m.config)
    if end and isinstance(end.get("t_wall"), (int, float)):
        return end["t_wall"] - t0, "config_start → config_end (control.jsonl)"
    last = [r.get("t_wall") for r in run.control if r.get("config") == m.config]
    last += [t.events.t_wall_max() for t in run.tasks_of(m.config)]  # finite t_walls only
    last += [s.t_wall_max() for s in run.samplers_of(m.config)]
    last = [t for t in last if isinstance(t, (int, float)) and not isinstance(t, bool)]
    if not last:
        return None, "no config_end record and no later record: billed time unknown"
    return max(last) - t0, ("no config_end record: config_start → the last record of this "
                            "configuration (a lower bound)")


def _training_after_first_step(m: ConfigMetrics) -> Optional[float]:
    """Training time less the first step: start-up already ends with it (counted once)."""
    if m.training_time_s is None:
        return None
    first = m.startup.first_step_s if m.startup is not None and m.startup.first_step_s else 0.0
    return max(0.0, m.training_time_s - first)


def _cost_set(rate: Rate, m: ConfigMetrics, wall_s: Optional[float]) -> CostSet:
    epochs = m.final_epoch if isinstance(m.final_epoch, int) else None
    train_s = _training_after_first_step(m)
    if m.target_metric is None:
        to_target = CostFigure(None, "", "no target set")
    elif m.time_to_target_s is None:
        to_target = CostFigure(None, "", "target not reached")
    else:
        to_target = cost_over(rate, m.time_to_target_s, "time to target")
    return CostSet(
        rate=rate,
        billed=cost_over(rate, wall_s, "configuration wall time"),
        startup=cost_over(rate, m.startup_s, "start-up time"),
        training=cost_over(rate, train_s, "training time"),
        per_epoch=cost_over(rate, m.training_time_s, "training time",
                            divisor=float(epochs) if epochs else 0.0, divisor_text="epochs"),
        per_million_images=per_million_images(rate, m.throughput_images_per_s),
        to_target=to_target,
        per_million_images_end_to_end=cost_over(
            rate, m.training_time_s, "training time", divisor=m.images_total / MILLION if m.images_total else 0.0,
            divisor_text="× 10⁶ images (all steps, evaluation and checkpoints in between)"))


def live_prices(run: RunData) -> tuple[Optional[LivePrices], list[str]]:
    if run.prices is None:
        return None, []
    live, notes = parse_live_prices(run.prices)
    return live, [f"prices.json: {n}" for n in notes]


def config_cost(run: RunData, m: ConfigMetrics, catalog: Catalog,
                live: Optional[LivePrices] = None) -> ConfigCost:
    types = {h: t for h, t in m.instance_types.items() if isinstance(t, str) and t}
    prices = [resolve_host_price(h, types.get(h), run.inventory_host(h), live, catalog)
              for h in m.hosts]
    wall_s, wall_method = billed_wall(run, m)
    return ConfigCost(config=m.config, host_prices=prices, billed_wall_s=wall_s,
                      billed_method=wall_method,
                      on_demand=_cost_set(combined_rate(prices, "on_demand"), m, wall_s),
                      spot=_cost_set(combined_rate(prices, "spot"), m, wall_s))


def compute_costs(run: RunData, metrics: Sequence[ConfigMetrics],
                  catalog: Catalog) -> tuple[list[ConfigCost], list[str]]:
    """Costs per configuration and notes about the price inputs (damaged prices.json)."""
    live, notes = live_prices(run)
    return [config_cost(run, m, catalog, live) for m in metrics], notes
