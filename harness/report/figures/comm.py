"""PURE communication analysis of a distributed configuration (docs/metrics.md,
"Communication: direct share, bytes, oversubscription"):

- direct share per rank, 1 − t_compute / t_step, t_compute from the rank's own
  `calibration` record (local steps, no exchange, same host and load), t_step from its
  training steps after warm-up; the configuration's is the mean over ranks;
- the baseline estimator (1 − t_single / t_step) beside it, its difference from the direct
  share (the CPU-contention part) and, when they disagree, why;
- bytes per step from the byte model (commbytes.py) against the sampler's network bytes;
- achieved bandwidth = wire bytes per step ÷ communication time per step, against the link
  rate when known (link_rate.py: sandbox `rate` label, EC2 instance facts);
- oversubscription: training processes per machine (hosts with one kernel boot id are one
  machine) against its cores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from harness.protocol import layout
from harness.protocol import stats
from harness.strategies import gradients_of, helper_roles
from harness.strategies.base import PS_PUSH_PULL
from harness.report.figures.commbytes import HostByteCheck, bytes_in_window, check_host, ps_host_bytes, ring_host_bytes
from harness.report.read.records import RunData, TaskData
from harness.report.figures.link_rate import link_rate, parse_bits  # noqa: F401  (parse_bits: importable from here too)
from harness.report.figures.metrics import ConfigMetrics

# Direct and baseline shares "disagree" when they differ by more than both intervals and this.
DISAGREE_MARGIN = 0.05


@dataclass(frozen=True)
class Share:
    value: float
    half_width: Optional[float]   # 95 %, from both means' intervals (delta method)
    t_compute_s: float
    t_step_s: float
    n_compute: int
    n_step: int


def share_from_samples(compute: Sequence[float], step: Sequence[float]) -> Optional[Share]:
    """1 − mean(compute) / mean(step). Each mean's standard error is from batch means
    (consecutive steps are autocorrelated, stats.batch_means); the ratio's relative error is
    the root sum of squares of the two (independent phases), with Welch–Satterthwaite df."""
    c, s = stats.batch_means(list(compute)), stats.batch_means(list(step))
    if c is None or s is None or s.mean <= 0:
        return None
    ratio = c.mean / s.mean
    hw = None
    if c.se is not None and s.se is not None and c.df and s.df and c.mean > 0:
        rc, rs = c.se / c.mean, s.se / s.mean
        se = (rc ** 2 + rs ** 2) ** 0.5
        df = se ** 4 / ((rc ** 4 / c.df) + (rs ** 4 / s.df)) if se > 0 else float("inf")
        hw = ratio * stats.t975(df) * se if se > 0 else 0.0
    return Share(1.0 - ratio, hw, c.mean, s.mean, len(compute), len(step))


@dataclass
class RankShare:
    task_id: str
    host: str
    rank: Optional[int]
    share: Share


@dataclass
class Machine:
    key: str                 # boot id, or the host name when unknown
    hosts: list[str]
    processes: int           # training processes of the configuration on it
    cores: Optional[int]

    @property
    def oversubscribed(self) -> bool:
        return self.cores is not None and self.processes > self.cores


@dataclass
class CommAnalysis:
    config: str
    strategy: Optional[str]
    ranks: list[RankShare] = field(default_factory=list)
    direct: Optional[Share] = None            # mean over ranks
    direct_reason: str = ""
    baseline_share: Optional[float] = None
    baseline_config: Optional[str] = None
    baseline_step_s: Optional[float] = None
    contention_share: Optional[float] = None  # (t_compute − t_single) / t_step
    disagreement: str = ""
    straggler: str = ""                       # from rank 0's Horovod timeline
    straggler_calibration: str = ""           # from the ranks' calibration: slowest rank's lag
    straggler_wait_s: Optional[float] = None  # slowest rank's t_compute − mean t_compute
    exchange_s: Optional[float] = None        # mean t_step − slowest t_compute
    negotiation_per_step_s: Optional[float] = None
    allreduce_per_step_s: Optional[float] = None
    gradient_bytes: Optional[int] = None
    wire_bytes_per_step: Optional[float] = None   # model bytes sent per rank per step
    byte_checks: list[HostByteCheck] = field(default_factory=list)
    byte_ratio: Optional[float] = None            # Σ measured ÷ Σ predicted over hosts
    background_bytes_per_s: Optional[float] = None  # Σ over hosts, handshake → first step
    byte_ratio_net: Optional[float] = None        # (Σ measured − background) ÷ Σ predicted
    byte_window_s: Optional[float] = None         # the kept steps' window the bytes are counted in
    comm_s_per_step: Optional[float] = None
    achieved_bits_per_s: Optional[float] = None
    link_bits_per_s: Optional[float] = None
    link_source: str = ""
    machines: list[Machine] = field(default_factory=list)
    oversubscription: str = ""
    baseline_alone: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def wire_overhead(self) -> Optional[float]:
        """Wire bytes per model byte: the background-corrected ratio when there is one."""
        return self.byte_ratio_net if self.byte_ratio_net is not None else self.byte_ratio

    @property
    def shares_cores(self) -> bool:
        return any(m.oversubscribed for m in self.machines)


# --- per task --------------------------------------------------------------------------------

def _warmup(task: TaskData) -> int:
    w = ((task.spec or {}).get("workload") or {}).get("warmup_steps")
    return int(w) if isinstance(w, int) else 5


def kept_step_times(task: TaskData) -> list[float]:
    # Step records with integer step and steps >= 1, non-zero seconds, first step after warm-up
    # (the step columns of load.TaskData; NaN seconds = none recorded).
    c = task.steps
    secs = c.seconds
    keep = c.ints & (c.steps >= 1) & ~np.isnan(secs) & (secs != 0) & (c.step - c.steps + 1 > _warmup(task))
    return (secs[keep] / c.steps[keep]).tolist()


def calibration_times(task: TaskData) -> list[float]:
    rec = task.first("calibration")
    vals = rec.get("step_seconds") if rec else None
    return [float(v) for v in vals if isinstance(v, (int, float)) and v > 0] if isinstance(vals, list) else []


def gradient_bytes_of(run: RunData, config: str) -> Optional[int]:
    for t in run.tasks_of(config):
        for r in [*t.of("phase"), *t.of("calibration")]:
            v = r.get("gradient_bytes")
            if isinstance(v, int) and v > 0:
                return v
    return None


def _training_tasks(run: RunData, config: str) -> list[TaskData]:
    # samplers, and the roles of each strategy that never train (Strategy.helper_roles)
    skip = (layout.SAMPLER_ROLE, *helper_roles())
    return [t for t in run.tasks_of(config) if t.role not in skip]


# --- oversubscription --------------------------------------------------------------------------

def machines(run: RunData, config: str) -> list[Machine]:
    by_key: dict[str, Machine] = {}
    for t in _training_tasks(run, config):
        start = t.first("run_start") or {}
        facts = start.get("host_facts") or {}
        key = facts.get("boot_id") or f"host {t.host}"
        m = by_key.setdefault(key, Machine(key, [], 0, None))
        if t.host not in m.hosts:
            m.hosts.append(t.host)
        m.processes += 1
        cores = facts.get("cores_logical")
        if isinstance(cores, int):
            m.cores = cores if m.cores is None else min(m.cores, cores)
    return list(by_key.values())


def _machines_text(ms: list[Machine]) -> str:
    parts = []
    for m in ms:
        where = f"hosts {', '.join(m.hosts)} (one machine: same kernel boot id)" if len(m.hosts) > 1 \
            else f"host {m.hosts[0]}"
        parts.append(f"{m.processes} training processes on {m.cores if m.cores is not None else '?'} cores, {where}")
    return "; ".join(parts)


# --- analysis ---------------------------------------------------------------------------------

def analyse(run: RunData, m: ConfigMetrics, base: Optional[ConfigMetrics]) -> CommAnalysis:
    a = CommAnalysis(m.config, m.strategy)
    tasks = _training_tasks(run, m.config)
    a.machines = machines(run, m.config)
    over = [x for x in a.machines if x.oversubscribed]
    if over:
        a.oversubscription = f"workers share cores: {_machines_text(over)}"
    if base is not None:
        bm = machines(run, base.config)
        alone = all(x.processes == 1 for x in bm)
        a.baseline_alone = (f"baseline {base.config} ran alone ({_machines_text(bm)})" if alone
                            else f"baseline {base.config} did not run alone ({_machines_text(bm)})")
    _direct(a, run, m, tasks)
    _baseline(a, m, base)
    _timeline(a, run, m)
    _bytes(a, run, m, tasks)
    return a


def _direct(a: CommAnalysis, run: RunData, m: ConfigMetrics, tasks: list[TaskData]) -> None:
    if gradients_of(m.strategy) == PS_PUSH_PULL:
        chief = next((t for t in tasks if t.role == "chief"), None)
        workers = [t for t in tasks if t.role == "worker" and t.of("calibration")]
        if chief is None or not workers:
            a.direct_reason = "no calibration records from the parameter-server workers"
            return
        # The chief's completion intervals × workers in flight = one worker's own step.
        w = m.workers or len(workers)
        step = [x * w for x in kept_step_times(chief)]
        compute = [x for t in workers for x in calibration_times(t)]
        sh = share_from_samples(compute, step)
        if sh:
            a.ranks = [RankShare(t.task_id, t.host, t.rank, s) for t in workers
                       if (s := share_from_samples(calibration_times(t), step))]
            a.direct = sh
        return
    for t in tasks:
        sh = share_from_samples(calibration_times(t), kept_step_times(t))
        if sh:
            a.ranks.append(RankShare(t.task_id, t.host, t.rank, sh))
    if not a.ranks:
        a.direct_reason = "no calibration records (workload.calibration_steps 0, or a strategy without it)"
        return
    n = len(a.ranks)
    if n >= 2:
        # Synchronous steps: every rank waits for the slowest one's compute before the
        # exchange can finish, so t_step ≈ max t_compute + exchange; the rest of a faster
        # rank's "communication" is waiting for that straggler.
        slow = max(a.ranks, key=lambda r: r.share.t_compute_s)
        mean_c = sum(r.share.t_compute_s for r in a.ranks) / n
        mean_s = sum(r.share.t_step_s for r in a.ranks) / n
        a.straggler_wait_s = slow.share.t_compute_s - mean_c
        a.exchange_s = mean_s - slow.share.t_compute_s
        a.straggler_calibration = (
            f"slowest rank's compute {slow.share.t_compute_s:.4g} s ({slow.task_id} on {slow.host}) against "
            f"{mean_c:.4g} s on average: {a.straggler_wait_s:.4g} s per step waiting for it "
            f"({a.straggler_wait_s / mean_s:.1%} of the step), {a.exchange_s:.4g} s the exchange itself "
            f"({a.exchange_s / mean_s:.1%}; t_step − slowest t_compute)")
    hws = [r.share.half_width for r in a.ranks]
    a.direct = Share(sum(r.share.value for r in a.ranks) / n,
                     # ranks move together (synchronous steps): half-widths averaged, not shrunk
                     sum(hws) / n if None not in hws else None,
                     sum(r.share.t_compute_s for r in a.ranks) / n, sum(r.share.t_step_s for r in a.ranks) / n,
                     sum(r.share.n_compute for r in a.ranks), sum(r.share.n_step for r in a.ranks))


def _baseline(a: CommAnalysis, m: ConfigMetrics, base: Optional[ConfigMetrics]) -> None:
    if base is None or not base.step_time_mean_s:
        return
    a.baseline_config, a.baseline_step_s = base.config, base.step_time_mean_s
    if a.direct is None:
        return
    t_step = a.direct.t_step_s
    a.baseline_share = 1.0 - base.step_time_mean_s / t_step
    a.contention_share = (a.direct.t_compute_s - base.step_time_mean_s) / t_step
    gap = a.baseline_share - a.direct.value
    tol = (a.direct.half_width or 0.0) + DISAGREE_MARGIN
    if abs(gap) > tol:
        why = (a.oversubscription + "; " + a.baseline_alone) if a.oversubscription else \
            (f"the ranks' own steps without communication take {a.direct.t_compute_s:.4g} s against "
             f"{base.step_time_mean_s:.4g} s for {base.config}: different load or hardware")
        a.disagreement = (f"baseline share {a.baseline_share:.1%} vs direct {a.direct.value:.1%}: the "
                          f"{gap:+.1%} are CPU contention, not communication ({why})")


def _timeline(a: CommAnalysis, run: RunData, m: ConfigMetrics) -> None:
    from harness.report.figures.horovod_timeline import timeline_summary

    for t in run.tasks_of(m.config):
        path = run.run_dir / t.rel_dir / layout.HOROVOD_TIMELINE_FILE
        if t.rank == 0 and path.is_file():
            s = timeline_summary(path, only="gradient_tape")   # gradients only: no barriers, broadcast
            w = _warmup(t)
            neg, red = s.get("negotiation_by_step_s") or [], s.get("allreduce_by_step_s") or []
            neg, red = neg[w:], red[w:]
            if neg and red:
                a.negotiation_per_step_s, a.allreduce_per_step_s = sum(neg) / len(neg), sum(red) / len(red)
                a.straggler = (f"rank 0's timeline, gradient tensors, mean of {len(neg)} steps after warm-up: "
                               f"{a.negotiation_per_step_s:.4g} s negotiating "
                               f"(waiting until every rank has its gradients: the slowest rank's lag) and "
                               f"{a.allreduce_per_step_s:.4g} s in allreduce (the transfer itself)")
            return


def _bytes(a: CommAnalysis, run: RunData, m: ConfigMetrics, tasks: list[TaskData]) -> None:
    g = a.gradient_bytes = gradient_bytes_of(run, m.config)
    if g is None:
        a.notes.append("no gradient_bytes in the tasks' model_built phase records: no byte model")
        return
    if gradients_of(m.strategy) == PS_PUSH_PULL:
        workers = sorted((t for t in tasks if t.role == "worker"), key=lambda t: t.task_id)
        ps = [t.host for t in tasks if t.role == "ps"]
        per_step = ps_host_bytes(g, [t.host for t in workers], ps)
        a.wire_bytes_per_step = 2.0 * g   # per worker step: push + pull through its link
        counted = [t for t in tasks if t.role == "chief"]
        shared = sorted({t.host for t in workers} & set(ps))
        if shared:
            a.notes.append(f"workers on the ps host ({', '.join(shared)}) exchange over loopback and take more "
                           f"than their even share of the steps when the link is slow; the model assumes an even "
                           f"share, so it overstates the network bytes (the chief does not record which worker "
                           f"ran a step)")
    else:
        ranked = sorted((t for t in tasks if isinstance(t.rank, int)), key=lambda t: t.rank)
        if len(ranked) < 2:
            return
        per_step = ring_host_bytes(g, [t.host for t in ranked])
        from harness.report.figures.commbytes import ring_allreduce_bytes
        a.wire_bytes_per_step = ring_allreduce_bytes(g, len(ranked))
        counted = ranked[:1]
    # The window of the kept steps: warm-up (step 1's broadcast and tracing, which can take
    # long on a slow link) is left out, like everywhere else in the report.
    start = end = None
    steps_total = 0
    for t in counted:
        w = _warmup(t)
        c = t.steps  # integer step/steps, non-zero seconds and t_wall, first step after warm-up
        secs, tw = c.seconds, c.t_wall
        keep = (c.ints & ~np.isnan(secs) & (secs != 0) & ~np.isnan(tw) & (tw != 0)
                & (c.step - c.steps + 1 > w))
        if keep.any():
            steps_total += int(c.steps[keep].sum())
            lo, hi = float((tw[keep] - secs[keep]).min()), float(tw[keep].max())
            start = lo if start is None else min(start, lo)
            end = hi if end is None else max(end, hi)
    if start is None or end is None or end <= start or not steps_total:
        return
    a.byte_window_s = end - start
    rate = steps_total / (end - start)   # steps per second over the kept steps' window
    ready = {t.host: r.get("t_wall") for t in tasks for r in t.of("phase") if r.get("name") == "distribution_ready"}
    # Gradient-free until the end of an up-front calibration, or else until the first step.
    calibrated = {t.host: (r.get("t_end_wall") if r.get("schedule") != "interleaved" else m.training_start_t_wall)
                  for t in tasks for r in t.of("calibration")}
    bg_total, bg_hosts = 0.0, 0
    for s in run.samplers_of(m.config):
        if s.host not in per_step:
            continue
        rows = s.sample_fields("t_wall", "dt_s", "net_sent_bytes_per_s", "net_recv_bytes_per_s")
        w = bytes_in_window(rows, start, end)
        if w is None:
            continue
        a.byte_checks.append(check_host(s.host, per_step[s.host], rate, w))
        # Traffic between the ranks' handshake and the end of calibration or the first step
        # (whole samples only):
        # no gradients yet, only
        # the framework's own control messages (Horovod's coordination cycle), which go on
        # at the same rate through training whatever the step rate.
        t_ready, t_cal = ready.get(s.host), calibrated.get(s.host)
        bg = None
        if isinstance(t_ready, (int, float)) and isinstance(t_cal, (int, float)):
            inside = [x for x in rows if isinstance(x.get("t_wall"), (int, float))
                      and isinstance(x.get("dt_s"), (int, float))
                      and x["t_wall"] - x["dt_s"] >= t_ready and x["t_wall"] <= min(t_cal, start)]
            bg = bytes_in_window(inside, t_ready, t_cal)
        if bg is not None and bg.covered_s > 0:
            bg_total += (bg.sent_bytes + bg.recv_bytes) / bg.covered_s
            bg_hosts += 1
    pred = sum(c.predicted_sent_bytes_per_s + c.predicted_recv_bytes_per_s for c in a.byte_checks)
    meas = sum(c.measured_sent_bytes_per_s + c.measured_recv_bytes_per_s for c in a.byte_checks)
    a.byte_ratio = meas / pred if pred > 0 else None
    if pred > 0 and bg_hosts == len(a.byte_checks) and bg_hosts:
        a.background_bytes_per_s = bg_total
        a.byte_ratio_net = (meas - bg_total) / pred
    if a.direct is not None:
        a.comm_s_per_step = a.direct.t_step_s - a.direct.t_compute_s
        noise = (a.direct.half_width or 0.0) * a.direct.t_step_s
        if a.comm_s_per_step <= noise:
            a.notes.append(f"communication time per step {a.comm_s_per_step:.4g} s is within the noise "
                           f"(± {noise:.4g} s): no achieved bandwidth")
        elif a.comm_s_per_step > 0:
            wire = a.wire_bytes_per_step * (a.wire_overhead or 1.0)
            a.achieved_bits_per_s = 8.0 * wire / a.comm_s_per_step
    a.link_bits_per_s, a.link_source = link_rate(run, sorted({t.host for t in tasks}))
