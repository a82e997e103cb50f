"""PURE performance model of a search space (`harness search`; docs/search.md, "The model"):
the step time of every (instance type, strategy, workers, threads) point from the few that
were measured, with a prediction interval for each and the reasons it extrapolates.

Per point, with c the compute time of one step on the type (the measured
compute/communication split: calibration steps of distributed ranks, steps of the single
process), G the gradient bytes, B the type's link rate (bits/s), m workers, k ps:

    step = θc·c + θb·L(m) + c̄·(θm·(m−1) + θl·ln m + θ0 + θi/m)

    ring all-reduce  L = 8·2(m−1)/m·G / B                   (the link model, α–β's β term)
    parameter server L = max(8·2G / B, 8·m·G/(k·B) − c)     (own push+pull, or the ps links)
    single           L = 0, and the m-terms are 0

θb < 1 is the part of the transfer that is NOT hidden behind compute: the overlap
φ = 1 − θb is fitted, not assumed 0. θm, θl, θ0, θi are Ernest's scaling terms (per-worker
coordination, tree-like negotiation, fixed cost, work that shrinks with more workers — the
parameter server's asynchronous steps on the sandbox) in units of c̄, the median compute time.
One θ per strategy, fitted over every type it was measured on (the type enters through c
and B), by non-negative least squares on relative errors with a weak prior θ = (1, 1, 0,
0, 0) (the α–β model itself), which keeps a fit from 1–2 points physical. The prior and the
fit give a Gaussian posterior (the Laplace approximation, ignoring the bounds); the 90 %
prediction interval is exp(±1.645·sd) on the log scale with sd² = posterior variance +
the noise between repeats + the compute extrapolation's variance.

Compute on a type nobody measured: ln c = a − γ·ln(vCPUs) fitted over the measured types
(γ = 1, perfect scaling, when fewer than two vCPU counts were measured), sd from the fit's
residuals (0.3 with one type): flagged as extrapolated. Another thread setting of a
measured type: its measured compute, sd 0.3, flagged. Another batch size (a `batch_sizes`
axis): c ∝ batch^β from the type's measured batches, β the pooled slope within (type,
threads) measured at two or more batches, else β = 1 (compute per image constant), sd 0.3
until β is fitted, then the noise (at least 0.1); flagged."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from harness.strategies import gradients_of
from harness.strategies.base import PS_PUSH_PULL, RING_ALLREDUCE

Z90 = 1.6448536269514722
PRIOR_MEAN = (1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
PRIOR_SD = (0.25, 0.6, 0.3, 0.3, 0.5, 0.3)
NTERMS = len(PRIOR_MEAN)
NOISE_FLOOR = 0.03     # relative sd between repeats, at least (a few %: measured on the sandbox)
NOISE_DEFAULT = 0.08   # without repeats to estimate it from
EXTRAP_SD = 0.3


@dataclass(frozen=True)
class TypeInfo:
    name: str
    vcpus: int
    link_bits_per_s: float
    usd_per_hour: Optional[float] = None
    gpus: int = 0


@dataclass(frozen=True)
class Point:
    instance_type: str
    strategy: str
    workers: int = 1
    ps: int = 0
    threads: Optional[int] = None   # intra-op threads (None: the experiment's)
    batch: int = 32                 # per worker
    batch_axis: bool = False        # batch size is an axis of the space: named in the key
    @property
    def kind(self) -> str:
        g = gradients_of(self.strategy)
        return g if g in (RING_ALLREDUCE, PS_PUSH_PULL) and self.workers > 1 else "single"

    @property
    def hosts(self) -> int:
        return self.workers + (self.ps if self.kind == PS_PUSH_PULL else 0)

    @property
    def key(self) -> str:
        t = f"-t{self.threads}" if self.threads is not None else ""
        b = f"-b{self.batch}" if self.batch_axis else ""
        return f"{self.instance_type}/{self.strategy}-{self.workers}{t}{b}"


@dataclass(frozen=True)
class Observation:
    point: Point
    step_time_s: float               # per worker step, one run's mean after warm-up
    t_compute_s: Optional[float]     # that run's compute per step (calibration), None: unknown
    gradient_bytes: Optional[float] = None


@dataclass(frozen=True)
class Prediction:
    point: Point
    step_time_s: float
    low_s: float                     # 90 % prediction interval
    high_s: float
    log_sd: float
    t_compute_s: float
    fitted_s: Optional[float]        # the model's value at a measured point (else None)
    measured_s: Optional[float]      # mean of the measured runs
    runs: int
    extrapolated: tuple[str, ...] = ()

    @property
    def measured(self) -> bool:
        return self.runs > 0


@dataclass
class StrategyFit:
    kind: str
    theta: np.ndarray
    cov: np.ndarray
    n: int

    @property
    def overlap(self) -> float:
        """Fitted share of the transfer hidden behind compute (1 − θb, clipped to [0, 1])."""
        return min(1.0, max(0.0, 1.0 - float(self.theta[1])))


@dataclass
class Model:
    types: dict[str, TypeInfo]
    compute: dict[tuple[str, Optional[int], int], tuple[float, int]]   # (type, threads, batch) → (c, samples)
    gamma: float
    gamma_fitted: bool
    intercept: float                 # a in ln c = a − γ ln vCPUs
    compute_sd: float                # of that extrapolation
    c_ref: float                     # c̄, the scale of the m-terms
    gradient_bytes: Optional[float]
    noise: float
    noise_source: str
    fits: dict[str, StrategyFit]
    measured: dict[str, list[float]] = field(default_factory=dict)   # point key → step times
    points: list[Point] = field(default_factory=list)                 # the measured points
    beta: float = 1.0                # c ∝ batch^β (1: compute per image constant, assumed)
    beta_fitted: bool = False
    batch_ref: int = 32              # the batch the vCPU fit is expressed at

    def compute_of(self, p: Point) -> tuple[float, float, tuple[str, ...]]:
        """(c, log sd, extrapolation notes) for a point's type, threads and batch."""
        got = self.compute.get((p.instance_type, p.threads, p.batch))
        if got:
            return got[0], self.noise / math.sqrt(got[1]), ()
        scaled = [(math.log(c) + self.beta * math.log(p.batch / b), n, th == p.threads)
                  for (t, th, b), (c, n) in self.compute.items() if t == p.instance_type]
        how_b = f"β = {self.beta:.2f} fitted" if self.beta_fitted else "β = 1 assumed"
        same = [(x, n) for x, n, ok in scaled if ok]
        if same:   # another batch of these threads: c ∝ batch^β
            c = math.exp(sum(x * n for x, n in same) / sum(n for _, n in same))
            sd = max(self.noise, 0.1) if self.beta_fitted else EXTRAP_SD
            return c, sd, (f"compute of batch {p.batch} scaled from the type's other batch sizes (c ∝ batch^β, "
                           f"{how_b})",)
        if scaled:
            c = math.exp(sum(x * n for x, n, _ in scaled) / sum(n for _, n, _ in scaled))
            return c, EXTRAP_SD, (f"compute of {p.threads} threads taken from the type's other thread settings",)
        info = self.types[p.instance_type]
        c = math.exp(self.intercept - self.gamma * math.log(max(1, info.vcpus))
                     + self.beta * math.log(p.batch / self.batch_ref))
        how = f"γ = {self.gamma:.2f} fitted" if self.gamma_fitted else "γ = 1 assumed (one vCPU count measured)"
        return c, self.compute_sd, (f"compute extrapolated from vCPUs ({info.vcpus}; c ∝ vCPUs^−γ, {how})",)


def features(kind: str, c: float, m: int, ps: int, grad: Optional[float], bits: float, c_ref: float) -> np.ndarray:
    if kind == "single":
        return np.array([c, 0.0, 0.0, 0.0, c_ref, 0.0])
    g = grad or 0.0
    if kind == RING_ALLREDUCE:
        link = 8.0 * 2.0 * (m - 1) / m * g / bits
    else:
        link = max(8.0 * 2.0 * g / bits, 8.0 * m * g / (max(1, ps) * bits) - c)
    return np.array([c, link, c_ref * (m - 1), c_ref * math.log(m), c_ref, c_ref / m])


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min ‖a·x − b‖ with x ≥ 0, exactly, by trying every set of free variables (≤ 6 of them)."""
    best, best_r = np.zeros(a.shape[1]), float(b @ b)
    for r in range(1, a.shape[1] + 1):
        for free in itertools.combinations(range(a.shape[1]), r):
            sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
            if (sol < -1e-12).any():
                continue
            x = np.zeros(a.shape[1])
            x[list(free)] = sol
            res = a @ x - b
            if float(res @ res) < best_r - 1e-15:
                best, best_r = x, float(res @ res)
    return best


def _noise(obs: Sequence[Observation]) -> tuple[float, str]:
    by: dict[str, list[float]] = {}
    for o in obs:
        by.setdefault(o.point.key, []).append(math.log(o.step_time_s))
    ss = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in by.values())
    df = sum(len(v) - 1 for v in by.values())
    if df < 2:
        return NOISE_DEFAULT, f"assumed {NOISE_DEFAULT:.0%} (fewer than 2 degrees of freedom between repeats)"
    s = math.sqrt(ss / df)
    return max(NOISE_FLOOR, s), f"{s:.1%} between repeats (df {df}; at least {NOISE_FLOOR:.0%})"


def _compute_table(obs: Sequence[Observation]) -> dict[tuple[str, Optional[int], int], tuple[float, int]]:
    logs: dict[tuple[str, Optional[int], int], list[float]] = {}
    for o in obs:
        c = o.t_compute_s if o.t_compute_s else (o.step_time_s if o.point.kind == "single" else None)
        if c and c > 0:
            logs.setdefault((o.point.instance_type, o.point.threads, o.point.batch), []).append(math.log(c))
    return {k: (math.exp(sum(v) / len(v)), len(v)) for k, v in logs.items()}


def _beta_fit(compute) -> tuple[float, bool]:
    """c ∝ batch^β: the pooled slope of ln c on ln batch within each (type, threads) measured at
    two or more batch sizes, clipped to [0.3, 1.2]; β = 1 (compute per image constant) without."""
    groups: dict[tuple, list[tuple[float, float]]] = {}
    for (t, th, b), (c, _) in compute.items():
        groups.setdefault((t, th), []).append((math.log(b), math.log(c)))
    sxy = sxx = 0.0
    for pts in groups.values():
        if len({x for x, _ in pts}) < 2:
            continue
        mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
        sxy += sum((x - mx) * (y - my) for x, y in pts)
        sxx += sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return 1.0, False
    return min(1.2, max(0.3, sxy / sxx)), True


def _vcpu_fit(compute, types: dict[str, TypeInfo], beta: float = 1.0,
              batch_ref: int = 32) -> tuple[float, float, bool, float]:
    pts = [(math.log(max(1, types[t].vcpus)), math.log(c) - beta * math.log(b / batch_ref))
           for (t, _, b), (c, _) in compute.items() if t in types]
    if not pts:
        raise ValueError("no measured compute time yet: measure at least one configuration")
    xs = {x for x, _ in pts}
    if len(xs) < 2:
        a = sum(y + x for x, y in pts) / len(pts)
        return 1.0, a, False, EXTRAP_SD
    mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
    gamma = min(1.5, max(0.0, -slope))
    a = my + gamma * mx
    res = [y - (a - gamma * x) for x, y in pts]
    sd = math.sqrt(sum(r * r for r in res) / max(1, len(pts) - 2)) if len(pts) > 2 else 0.15
    return gamma, a, True, max(0.1, sd)


def fit(obs: Sequence[Observation], types: dict[str, TypeInfo]) -> Model:
    """The model from every measured run so far (repeats as separate observations)."""
    if not obs:
        raise ValueError("no measured configuration yet")
    unknown = sorted({o.point.instance_type for o in obs} - set(types))
    if unknown:
        raise ValueError(f"instance type(s) {', '.join(unknown)} have no facts (vCPUs, link rate)")
    compute = _compute_table(obs)
    beta, beta_fitted = _beta_fit(compute)
    batch_ref = int(np.median([b for (_, _, b) in compute])) if compute else 32
    gamma, a, fitted, csd = _vcpu_fit(compute, types, beta, batch_ref)
    c_ref = float(np.median([c for c, _ in compute.values()]))
    grads = [o.gradient_bytes for o in obs if o.gradient_bytes]
    grad = max(grads) if grads else None
    noise, noise_src = _noise(obs)
    model = Model(types=types, compute=compute, gamma=gamma, gamma_fitted=fitted, intercept=a, compute_sd=csd,
                  c_ref=c_ref, gradient_bytes=grad, noise=noise, noise_source=noise_src, fits={}, beta=beta,
                  beta_fitted=beta_fitted, batch_ref=batch_ref)
    for o in obs:
        model.measured.setdefault(o.point.key, []).append(o.step_time_s)
        model.points.append(o.point)
    for kind in ("single", RING_ALLREDUCE, PS_PUSH_PULL):
        rows, ys = [], []
        for o in obs:
            if o.point.kind != kind:
                continue
            c = o.t_compute_s or model.compute_of(o.point)[0]
            info = types[o.point.instance_type]
            rows.append(features(kind, c, o.point.workers, o.point.ps, grad, info.link_bits_per_s, c_ref))
            ys.append(o.step_time_s)
        model.fits[kind] = _fit_kind(kind, rows, ys, noise)
    return model


def _fit_kind(kind: str, rows: list, ys: list, noise: float) -> StrategyFit:
    mean, sd = np.array(PRIOR_MEAN), np.array(PRIOR_SD)
    if kind == "single":
        sd = sd.copy()
        sd[[1, 2, 3, 5]] = 1e-6   # no link, no scaling terms with one process
    x = np.array(rows).reshape(-1, NTERMS) / np.array(ys).reshape(-1, 1) if rows else np.zeros((0, NTERMS))
    y = np.ones(len(ys))
    a = np.vstack([x / noise, np.diag(1.0 / sd)])
    b = np.concatenate([y / noise, mean / sd])
    theta = nnls(a, b)
    precision = a.T @ a
    return StrategyFit(kind, theta, np.linalg.inv(precision), len(ys))


def predict(model: Model, p: Point) -> Prediction:
    if p.instance_type not in model.types:
        raise ValueError(f"instance type {p.instance_type}: no facts (vCPUs, link rate)")
    c, c_sd, notes = model.compute_of(p)
    info = model.types[p.instance_type]
    if p.kind != "single" and model.gradient_bytes is None:
        raise ValueError("no gradient bytes measured yet: measure one distributed configuration first")
    f = model.fits[p.kind]
    x = features(p.kind, c, p.workers, p.ps, model.gradient_bytes, info.link_bits_per_s, model.c_ref)
    y = max(1e-9, float(x @ f.theta))
    notes = list(notes)
    if f.n == 0:
        notes.append(f"no {p.kind} configuration measured: the α–β prior alone")
    lo_m = min((q.workers for q in _measured_points(model, p.kind)), default=None)
    hi_m = max((q.workers for q in _measured_points(model, p.kind)), default=None)
    if lo_m is not None and not lo_m <= p.workers <= hi_m:
        notes.append(f"{p.workers} workers outside the measured {lo_m}–{hi_m}")
    var = float(x @ f.cov @ x) / y ** 2 + model.noise ** 2 + (c_sd * f.theta[0] * c / y) ** 2
    runs = model.measured.get(p.key, [])
    fitted = y if runs else None
    if runs:   # a measured point is its measurement: the geometric mean, with its standard error
        y = math.exp(sum(math.log(v) for v in runs) / len(runs))
        var = model.noise ** 2 / len(runs)
    sd = math.sqrt(var)
    return Prediction(p, y, y * math.exp(-Z90 * sd), y * math.exp(Z90 * sd), sd, c, fitted,
                      (math.exp(sum(math.log(v) for v in runs) / len(runs)) if runs else None), len(runs),
                      tuple(notes))


def _measured_points(model: Model, kind: str) -> list[Point]:
    return [q for q in model.points if q.kind == kind]

