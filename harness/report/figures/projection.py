"""PURE projection of a measured distributed configuration to other cluster sizes and
link rates (`harness project`; docs/metrics.md, "Projection").

Inputs, all from one run: t_compute (the ranks' calibration steps: a step without
communication), the measured step time, gradient bytes G, the wire overhead (sampler bytes ÷
model bytes) and the link rate of the measured run.

Ring all-reduce (Horovod), α–β with the fusion buffer:
    t_comm(N, B) = 2(N−1)·⌈G / F⌉·α + w·2(N−1)/N·G / B
where F is the fusion buffer, B the link rate in bytes/s, w the wire overhead, and α the
per-message latency fitted to the measured run: the measured communication time
t_step − t_compute minus its bandwidth term, over its 2(N₀−1)·⌈G/F⌉ messages (≥ 0).
    t_step = t_compute + (1 − φ)·t_comm
φ, the share of the transfer hidden behind compute (Horovod exchanges fused tensors during
back-propagation), is fitted to the measured run: when its communication time is shorter
than its bytes at the link rate, α = 0 and φ = 1 − measured comm ÷ bandwidth term; else φ = 0
and α takes the rest. Either way the measured point is reproduced. (One run cannot tell α
from φ where both act; `harness search` fits both over many runs: perf_model.py.)

Parameter server (the ps links are the bottleneck), W workers, k ps tasks, a fraction r of
the workers on other hosts than the ps (the measured layout at the measured size, else 1):
    one worker's step alone  t_w = t_compute + λ + (1 − φ)·2·w·G / B   (pull + push through its link)
    the ps links' limit      W·r·w·G / (k·B) per round of one step per worker
    t_step = max(t_w, W·r·w·G / (k·B)); λ fitted to the measured run as α above.

Throughput = N·batch / t_step; communication share = 1 − t_compute / t_step; scaling
efficiency = t_compute / t_step (N workers against N × one worker without communication);
$ per 10⁶ images = hosts × $/h ÷ 3600 × 10⁶ ÷ throughput."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from harness.strategies import gradients_of
from harness.strategies.base import PS_PUSH_PULL


@dataclass(frozen=True)
class Measured:
    config: str
    strategy: str                 # its gradients travel in a ring (horovod, mirrored) or through ps (parameter_server)
    workers: int
    ps: int
    batch: int                    # per worker
    t_compute_s: float
    t_step_s: float               # per worker step (PS: completion interval × workers)
    gradient_bytes: float
    wire_overhead: float          # measured ÷ model bytes (1.0 when not measured)
    link_bits_per_s: Optional[float]
    fusion_bytes: float = 64 * 1024 * 1024
    remote_fraction: float = 1.0  # PS: share of workers not on a ps host (the measured layout)
    sources: dict = field(default_factory=dict)   # figure -> where it came from
    t_compute_fit_s: Optional[float] = None  # t_compute of the measured run itself, when t_compute_s
    #                                          is taken from elsewhere (the baseline that ran alone)


@dataclass(frozen=True)
class Point:
    workers: int
    bits_per_s: float
    hosts: int
    t_step_s: float
    t_comm_s: float
    throughput: float
    comm_share: float
    efficiency: float
    usd_per_1m_images: Optional[float]


@dataclass(frozen=True)
class Fit:
    latency_s: float              # α per message (ring) or λ per step (PS)
    latency_kind: str
    achieved_bits_per_s: Optional[float]
    notes: tuple[str, ...]
    overlap: float = 0.0          # φ: share of the bandwidth term hidden behind compute


def _push_pull(m: Measured) -> bool:
    """Parameter-server model, else ring all-reduce (the strategy's Strategy.gradients)."""
    return gradients_of(m.strategy) == PS_PUSH_PULL


def _messages(workers: int, grad_bytes: float, fusion_bytes: float) -> int:
    return 2 * (workers - 1) * max(1, math.ceil(grad_bytes / fusion_bytes))


def _ring_volume(m: Measured, workers: int) -> float:
    return m.wire_overhead * 2.0 * (workers - 1) / workers * m.gradient_bytes


def _remote(m: Measured, workers: int) -> float:
    """The measured layout at the measured size; one host per worker at any other."""
    return m.remote_fraction if workers == m.workers else 1.0


def fit(m: Measured) -> Fit:
    notes = []
    t_c = m.t_compute_fit_s if m.t_compute_fit_s is not None else m.t_compute_s
    comm = m.t_step_s - t_c
    if comm < 0:
        notes.append(f"measured step {m.t_step_s:.4g} s is shorter than t_compute {t_c:.4g} s: "
                     "communication time taken as 0")
        comm = 0.0
    if _push_pull(m):
        volume = 2.0 * m.wire_overhead * m.gradient_bytes
        kind = "λ, per worker step"
    else:
        volume = _ring_volume(m, m.workers)
        kind = "α, per message"
    achieved = 8.0 * volume / comm if comm > 0 else None
    if m.link_bits_per_s is None:
        notes.append("link rate of the measured run unknown: its achieved bandwidth is taken as the link "
                     "rate, and latency as 0")
        return Fit(0.0, kind, achieved, tuple(notes))
    beta_term = 8.0 * volume / m.link_bits_per_s
    rest = comm - beta_term
    if _push_pull(m):
        ps_bound = 8.0 * m.workers * m.remote_fraction * m.wire_overhead * m.gradient_bytes / max(1, m.ps) \
            / m.link_bits_per_s
        if ps_bound >= m.t_step_s:
            notes.append("the measured run was limited by the ps link: λ taken as 0")
            rest = 0.0
        lat = max(0.0, rest)
    else:
        lat = max(0.0, rest) / _messages(m.workers, m.gradient_bytes, m.fusion_bytes)
    overlap = 0.0
    if rest < 0 and beta_term > 0:
        overlap = min(1.0, -rest / beta_term)
        notes.append(f"communication took {comm:.4g} s, less than the bytes at the link rate ({beta_term:.4g} s): "
                     f"compute and transfer overlap; fitted overlap φ = {overlap:.1%} of the transfer, latency 0")
    return Fit(lat, kind, achieved, tuple(notes), overlap)


def predict(m: Measured, f: Fit, workers: int, bits_per_s: Optional[float],
            usd_per_host_hour: Optional[float] = None) -> Point:
    bps = bits_per_s or m.link_bits_per_s or f.achieved_bits_per_s
    if not bps:
        raise ValueError("no link rate: give --bandwidth (the measured run's link rate is unknown and it "
                         "measured no communication time)")
    if _push_pull(m):
        own = m.t_compute_s + f.latency_s + (1 - f.overlap) * 8.0 * 2.0 * m.wire_overhead * m.gradient_bytes / bps
        ps_link = 8.0 * workers * _remote(m, workers) * m.wire_overhead * m.gradient_bytes / max(1, m.ps) / bps
        t_step = max(own, ps_link)
        hosts = workers + m.ps
    else:
        comm = (_messages(workers, m.gradient_bytes, m.fusion_bytes) * f.latency_s
                + (1 - f.overlap) * 8.0 * _ring_volume(m, workers) / bps) if workers > 1 else 0.0
        t_step = m.t_compute_s + comm
        hosts = workers
    thr = workers * m.batch / t_step
    usd = hosts * usd_per_host_hour / 3600.0 * 1e6 / thr if usd_per_host_hour is not None else None
    return Point(workers, bps, hosts, t_step, t_step - m.t_compute_s, thr, 1.0 - m.t_compute_s / t_step,
                 m.t_compute_s / t_step, usd)


def project(m: Measured, workers: Sequence[int], rates: Sequence[Optional[float]],
            usd_per_host_hour: Optional[float] = None) -> tuple[Fit, list[Point]]:
    f = fit(m)
    return f, [predict(m, f, n, b, usd_per_host_hour) for n in workers for b in rates]


def assumptions(m: Measured, f: Fit) -> list[str]:
    fit_note = ([f"latency fitted with the measured run's own t_compute {m.t_compute_fit_s:.4g} s (calibration)"]
                if m.t_compute_fit_s is not None else [])
    out = [
        f"measured: {m.config} ({m.strategy}, {m.workers} workers"
        + (f", {m.ps} ps" if _push_pull(m) else "") + f", batch {m.batch} per worker)",
        f"t_compute = {m.t_compute_s:.4g} s per step, the same on every host and at every size "
        f"({m.sources.get('t_compute', 'calibration steps')})",
        f"measured step = {m.t_step_s:.4g} s ({m.sources.get('t_step', 'training steps after warm-up')})",
        f"gradient bytes G = {m.gradient_bytes:.6g} ({m.sources.get('gradient_bytes', 'trainable variables')}), "
        f"wire overhead w = {m.wire_overhead:.3g} ({m.sources.get('wire_overhead', 'assumed')})",
        "measured link rate: " + (f"{m.link_bits_per_s / 1e6:.6g} Mbit/s ({m.sources.get('link', '')})"
                                  if m.link_bits_per_s else "unknown"),
        f"fitted latency {f.latency_kind}: {f.latency_s * 1e3:.4g} ms"
        + (f"; achieved bandwidth in the measured run {f.achieved_bits_per_s / 1e6:.4g} Mbit/s"
           if f.achieved_bits_per_s else ""),
    ]
    if _push_pull(m):
        out += ["parameter server: t_step = max(t_compute + λ + 2wG/B, W·r·wG/(k·B)), the ps links the shared "
                f"bottleneck (k = {m.ps} ps, variables split evenly); r = {m.remote_fraction:.3g} of the workers on "
                f"other hosts than the ps at {m.workers} workers (the measured layout), 1 at other sizes (one host "
                "per worker plus one per ps); workers share the steps evenly"]
    else:
        out += [f"ring all-reduce: t_comm = 2(N−1)·⌈G/F⌉·α + w·2(N−1)/N·G/B, fusion buffer F = "
                f"{m.fusion_bytes:.6g} bytes; t_step = t_compute + (1 − φ)·bandwidth term + latency term, "
                f"φ = {f.overlap:.1%} fitted (the share of the transfer hidden behind compute); one worker per host"]
    out += ["links full duplex at the stated rate, no other traffic; compute unchanged by the link",
            *fit_note, *f.notes]
    return out
