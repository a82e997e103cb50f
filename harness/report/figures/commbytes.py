"""PURE byte model of one training step's gradient exchange, and the sampler's measured
network bytes to check it against (docs/metrics.md, "Bytes on the wire").

Ring all-reduce (Horovod over Gloo or MPI, NCCL): reduce-scatter then all-gather around a
ring in rank order; each rank sends (N−1)/N of the gradient bytes G in each phase to the
next rank and receives as much from the previous one: 2(N−1)/N · G each way per step. A
send is network traffic only when the next rank is on another host.

Parameter server: each worker step pulls the variables from the ps tasks (G bytes, split
over the ps tasks) and pushes its gradients back (G bytes); traffic between a worker and a
ps on the same host stays on loopback, which the sampler does not count."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence


def ring_allreduce_bytes(grad_bytes: float, n: int) -> float:
    """Bytes each rank sends (and receives) per all-reduce of grad_bytes over n ranks."""
    if n < 1:
        raise ValueError(f"ring all-reduce needs at least 1 rank, got {n}")
    return 2.0 * (n - 1) / n * grad_bytes


def ring_host_bytes(grad_bytes: float, rank_hosts: Sequence[str]) -> dict[str, tuple[float, float]]:
    """{host: (sent, received)} network bytes per step for ranks 0..N−1 on rank_hosts."""
    n = len(rank_hosts)
    per = ring_allreduce_bytes(grad_bytes, n) if n else 0.0
    out = {h: (0.0, 0.0) for h in rank_hosts}
    for r, h in enumerate(rank_hosts):
        nxt = rank_hosts[(r + 1) % n]
        if nxt != h:
            s, rv = out[h]
            out[h] = (s + per, rv)
            s2, rv2 = out[nxt]
            out[nxt] = (s2, rv2 + per)
    return out


def ps_host_bytes(grad_bytes: float, worker_hosts: Sequence[str],
                  ps_hosts: Sequence[str]) -> dict[str, tuple[float, float]]:
    """{host: (sent, received)} network bytes per cluster step (one worker step; the workers
    take turns evenly, so each worker's share is 1/W) of a parameter-server job."""
    w, k = len(worker_hosts), len(ps_hosts)
    out = {h: (0.0, 0.0) for h in [*worker_hosts, *ps_hosts]}
    if not w or not k:
        return out
    share = grad_bytes / k / w   # per ps, per worker, per cluster step
    for wh in worker_hosts:
        for ph in ps_hosts:
            if wh == ph:
                continue
            ws, wr = out[wh]
            out[wh] = (ws + share, wr + share)   # push to the ps, pull from it
            ps_s, ps_r = out[ph]
            out[ph] = (ps_s + share, ps_r + share)
    return out


@dataclass(frozen=True)
class WindowBytes:
    sent_bytes: float
    recv_bytes: float
    covered_s: float   # seconds of the window the samples cover
    samples: int


def bytes_in_window(samples: Iterable[Mapping], start: float, end: float) -> Optional[WindowBytes]:
    """Network bytes sent/received in [start, end] from `sample` records: each sample's rate
    covers (t_wall − dt_s, t_wall]; the part of that interval inside the window counts."""
    sent = recv = covered = 0.0
    n = 0
    for s in samples:
        t, dt = s.get("t_wall"), s.get("dt_s")
        rs, rr = s.get("net_sent_bytes_per_s"), s.get("net_recv_bytes_per_s")
        if not all(isinstance(v, (int, float)) for v in (t, dt, rs, rr)) or dt <= 0:
            continue
        overlap = min(t, end) - max(t - dt, start)
        if overlap <= 0:
            continue
        sent += rs * overlap
        recv += rr * overlap
        covered += overlap
        n += 1
    if not n:
        return None
    return WindowBytes(sent, recv, covered, n)


@dataclass(frozen=True)
class HostByteCheck:
    host: str
    predicted_sent_bytes_per_s: float
    predicted_recv_bytes_per_s: float
    measured_sent_bytes_per_s: float
    measured_recv_bytes_per_s: float
    samples: int

    @property
    def ratio(self) -> Optional[float]:
        """measured ÷ predicted over both directions (None when nothing is predicted)."""
        pred = self.predicted_sent_bytes_per_s + self.predicted_recv_bytes_per_s
        if pred <= 0:
            return None
        return (self.measured_sent_bytes_per_s + self.measured_recv_bytes_per_s) / pred


def check_host(host: str, per_step: tuple[float, float], steps_per_s: float,
               window: WindowBytes) -> HostByteCheck:
    cov = window.covered_s or math.nan
    return HostByteCheck(host, per_step[0] * steps_per_s, per_step[1] * steps_per_s,
                         window.sent_bytes / cov, window.recv_bytes / cov, window.samples)
