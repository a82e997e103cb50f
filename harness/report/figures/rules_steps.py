"""Rules on step records, calibration, start-up and the run's layout (pure): straggler
host, input-bound, communication-bound, shared cores, step outlier (SageMaker StepOutlier)
and max initialization time (SageMaker MaxInitializationTime, also a live rule:
harness/protocol/live_rules.py). Formulas, thresholds and worked examples: docs/metrics.md,
"Diagnoses"."""

from __future__ import annotations

import numpy as np

from harness.protocol import stats
from harness.report.figures.comm import calibration_times, machines
from harness.report.figures.diagnose import NOT_EVALUATED, OK, TRIGGERED, Check, Rule, RuleInput, fmt_share
from harness.report.read.records import resolved_experiment

STRAGGLER_SPREAD_SHARE = 0.20        # (max − min) per-task mean step (or compute) time / median
INPUT_BOUND_DATA_WAIT_SHARE = 0.20   # data_wait_s / seconds over kept step records
COMMUNICATION_BOUND_SHARE = 0.50     # communication share (scaling.py)
SHARED_CORES_WAIT_SHARE = 0.10       # the tasks' run-queue wait / (their CPU time + that wait)
SHARED_CORES_CPU = 90.0              # without wait readings (older runs): machine mean CPU %
STEP_OUTLIER_SIGMAS = 3.0
STEP_OUTLIER_STEPS = 10
DEFAULT_MAX_INIT_S = 1200.0          # the experiment's max_init_s when the run does not say
SYNCHRONOUS = ("horovod",)           # every rank's step lasts as long as the slowest rank's
STOPPED_MAX_INIT = "max_init"        # config_end.reason_code of a configuration the supervisor stopped


def _s(x: float) -> str:
    return f"{x:.4g}"


def straggler(inp: RuleInput) -> list[Check]:
    m = inp.m
    name = "straggler host"
    threshold = f"spread > {fmt_share(STRAGGLER_SPREAD_SHARE)} of the median"
    per = []
    sync = m.strategy in SYNCHRONOUS
    if sync:
        per = [(t.task_id, t.host, stats.mean(c)) for t in inp.run.tasks_of(m.config)
               if (c := calibration_times(t))]
        what = "per-rank mean calibration compute time (synchronous ranks wait for the slowest)"
    if len(per) < 2:   # not synchronous, or its ranks did not calibrate: their own step times
        sync = False
        per = [(t.task_id, t.host, t.step_time_mean_s) for t in m.tasks if t.step_time_mean_s is not None]
        what = "per-task mean step time"
    if len(per) < 2:
        return [Check(m.config, name, None, NOT_EVALUATED,
                      f"{len(per)} task(s) with {'calibration' if sync else 'step'} times after warm-up; "
                      f"needs 2 or more", threshold)]
    ms = machines(inp.run, m.config)
    limited = [s.host for s in inp.run.samplers_of(m.config)
               if (s.first("sampler_start") or {}).get("cpu_limit_cores")]
    if len(ms) == 1 and not limited:
        # One machine (one kernel boot id) and one pool of cores under every task: their
        # spread is how that machine shares its cores, not a host that could be replaced.
        # (Hosts with a CPU quota of their own, as containers, are apart even on one kernel.)
        return [Check(m.config, name, None, NOT_EVALUATED,
                      f"every task runs on one machine ({', '.join(ms[0].hosts)}: one boot id, no CPU quota of "
                      f"their own); no host to tell apart", threshold)]
    means = [p[2] for p in per]
    med = stats.median(means)
    spread = max(means) - min(means)
    slow = max(per, key=lambda p: p[2])
    share = spread / med if med else 0.0
    # What replacing the slowest by a typical host would give back: typical is the median
    # of the OTHERS (with 2 tasks, the median of all would halve the effect). Synchronous
    # ranks all wait for it, so the saving is a share of the step, else of its own time.
    typical = stats.median([p[2] for p in per if p is not slow])
    t_step = _mean_step(inp) if sync else None
    per_step = bool(t_step) and t_step >= slow[2]
    base = t_step if per_step else slow[2]
    listed = ", ".join(f"{tid} ({host}) {_s(v)} s" for tid, host, v in per)
    evidence = (f"{what}: {listed}; spread max − min = {_s(spread)} s = {fmt_share(share)} of the median "
                f"{_s(med)} s; slowest {slow[0]} on {slow[1]}")
    trig = share > STRAGGLER_SPREAD_SHARE
    sev = (slow[2] - typical) / base if base else 0.0
    basis = (f"(slowest − median of the others) / mean step time {_s(base)} s: the share of every step the "
             f"others wait for it" if per_step else
             "(slowest − median of the others) / slowest: the share of its time it lags behind them")
    return [Check(m.config, name, slow[1], TRIGGERED if trig else OK, evidence, threshold,
                  sev if trig else None, basis,
                  f"inspect or replace host {slow[1]}: its {slow[0]} takes {_s(slow[2] / med)}× the median; "
                  f"up to {fmt_share(sev)} of the step time back")]


def _mean_step(inp: RuleInput):
    """The ranks' mean step time from the communication analysis, or None."""
    c = inp.sc.comm
    return c.direct.t_step_s if c is not None and c.direct is not None else None


def input_bound(inp: RuleInput) -> list[Check]:
    m = inp.m
    threshold = f"data-wait share > {fmt_share(INPUT_BOUND_DATA_WAIT_SHARE)}"
    if m.data_wait_share is None:
        return [Check(m.config, "input-bound", None, NOT_EVALUATED, m.data_wait_method, threshold)]
    share = m.data_wait_share
    trig = share > INPUT_BOUND_DATA_WAIT_SHARE
    return [Check(m.config, "input-bound", None, TRIGGERED if trig else OK,
                  f"data-wait share {fmt_share(share)} ({m.data_wait_method})", threshold,
                  share if trig else None, "the data-wait share of step time",
                  f"more input threads, prefetch or a cached dataset: up to {fmt_share(share)} of the step time")]


def communication_bound(inp: RuleInput) -> list[Check]:
    sc = inp.sc
    threshold = f"communication share > {fmt_share(COMMUNICATION_BOUND_SHARE)}"
    c = sc.communication
    if c is None:
        return [Check(sc.config, "communication-bound", None, NOT_EVALUATED,
                      sc.communication_reason or "no communication share", threshold)]
    value, evidence = c.value, f"communication share {fmt_share(c.value)} = {c.inputs} ({c.method})"
    a = sc.comm
    if a is not None and a.oversubscription:
        # A rank that is not running cannot answer its part of the exchange: with more
        # processes than cores the exchange time is mostly waiting for the CPU.
        return [Check(sc.config, "communication-bound", None, NOT_EVALUATED,
                      f"{evidence}; not separable from CPU sharing: {a.oversubscription} (see shared cores)",
                      threshold)]
    if inp.m.strategy in SYNCHRONOUS and a is not None and a.exchange_s is not None and a.direct is not None \
            and a.direct.t_step_s:
        # A faster rank's "communication" includes waiting for the slowest one's compute:
        # that is the straggler rule's; only t_step − slowest t_compute is the exchange.
        value = max(0.0, a.exchange_s / a.direct.t_step_s)
        evidence = (f"exchange {fmt_share(value)} of the step = (mean t_step {_s(a.direct.t_step_s)} s − slowest "
                    f"rank's t_compute {_s(a.direct.t_step_s - a.exchange_s)} s) ÷ mean t_step; the direct share "
                    f"{fmt_share(c.value)} also counts waiting for the slowest rank")
    trig = value > COMMUNICATION_BOUND_SHARE
    return [Check(sc.config, "communication-bound", None, TRIGGERED if trig else OK, evidence, threshold,
                  value if trig else None, "the exchange's share of step time",
                  "a faster link (an instance with more network bandwidth), larger batches (fewer exchanges "
                  f"per image) or fewer hosts: {fmt_share(value)} of the step time is exchange")]


def _wait_share(inp: RuleInput, hosts: list[str]) -> tuple[float, int, str] | None:
    """(Σ wait ÷ Σ (run + wait), readings, host) of the tasks' threads on one machine over
    the training window, from the sampler of its hosts with the most readings (every
    sampler on a machine sees the same task processes); None without any."""
    best = None
    for w in inp.windows:
        if w.host not in hosts or w.sched_run is None or w.sched_wait is None:
            continue
        ok = ~np.isnan(w.sched_run) & ~np.isnan(w.sched_wait)
        n = int(ok.sum())
        runnable = float(w.sched_run[ok].sum() + w.sched_wait[ok].sum())
        if n and runnable > 0 and (best is None or n > best[1]):
            best = (float(w.sched_wait[ok].sum()) / runnable, n, w.host)
    return best


def shared_cores(inp: RuleInput) -> list[Check]:
    m = inp.m
    name = "shared cores"
    threshold = (f"more training processes than cores on a machine, and the tasks waited for a core "
                 f"> {fmt_share(SHARED_CORES_WAIT_SHARE)} of their runnable time (runs without wait "
                 f"readings: the machine's mean CPU > {SHARED_CORES_CPU:g} %)")
    out = []
    cpu = {h.host: h.cpu_percent.mean for h in inp.u.hosts}
    for mc in machines(inp.run, m.config):
        where = ", ".join(mc.hosts)
        if mc.cores is None:
            out.append(Check(m.config, name, where, NOT_EVALUATED, "no cores_logical in run_start host facts",
                             threshold))
            continue
        layout = (f"{mc.processes} training processes on {mc.cores} cores ({'one machine: ' if len(mc.hosts) > 1 else ''}"
                  f"{where})")
        action = (f"at most one training process per core ({mc.cores} here): fewer workers per host or "
                  f"more hosts")
        waited = _wait_share(inp, mc.hosts)
        if waited is not None:
            # The scheduler's own account (schedstat): time a task was runnable and had no
            # core. A share of the tasks' runnable time is a share of their time lost to it.
            share, n, host = waited
            evidence = (f"{layout}; the tasks waited for a core {fmt_share(share)} of their runnable time "
                        f"(Σ tasks.sched_wait_s ÷ Σ (tasks.sched_run_s + tasks.sched_wait_s) over "
                        f"{n} readings of {host})")
            trig = mc.processes > mc.cores and share > SHARED_CORES_WAIT_SHARE
            out.append(Check(m.config, name, where, TRIGGERED if trig else OK, evidence, threshold,
                             share if trig else None,
                             "the tasks' run-queue wait ÷ their runnable time: the share of their time spent "
                             "waiting for a core", action))
            continue
        load = [cpu[h] for h in mc.hosts if cpu.get(h) is not None]
        mean = max(load) if load else None
        evidence = (f"{layout}; no run-queue wait readings; mean CPU in the window "
                    f"{_s(mean) + ' %' if mean is not None else 'unknown'}")
        if mc.processes > mc.cores and mean is None:
            out.append(Check(m.config, name, where, NOT_EVALUATED, evidence + ": no CPU samples", threshold))
            continue
        trig = mc.processes > mc.cores and mean > SHARED_CORES_CPU
        sev = 1 - mc.cores / mc.processes
        out.append(Check(m.config, name, where, TRIGGERED if trig else OK, evidence, threshold,
                         sev if trig else None, "1 − cores/processes: each process gets that share of a core",
                         action))
    return out


def step_outlier(inp: RuleInput) -> list[Check]:
    m = inp.m
    name = "step outlier"
    threshold = f"> {STEP_OUTLIER_STEPS} steps slower than mean + {STEP_OUTLIER_SIGMAS:g}σ"
    out = []
    for t in inp.run.tasks_of(m.config):
        c = t.steps
        secs = c.seconds
        w = ((t.spec or {}).get("workload") or {}).get("warmup_steps")
        warmup = w if isinstance(w, int) else 5
        # the records comm.kept_step_times keeps: whole steps after warm-up with a duration
        keep = c.ints & (c.steps >= 1) & ~np.isnan(secs) & (secs != 0) & (c.step - c.steps + 1 > warmup)
        if keep.sum() < 2:
            continue
        steps = c.steps[keep]
        x = secs[keep] / steps
        t_wall = c.t_wall[keep]
        mu, sd = float(x.mean()), stats.sample_sd(x.tolist()) or 0.0
        limit = mu + STEP_OUTLIER_SIGMAS * sd
        hit = x > limit
        n = int(steps[hit].sum())
        total = float((x * steps).sum())
        lost = float(((x[hit] - mu) * steps[hit]).sum())
        at = ", ".join(f"{v:.3f}" for v in t_wall[hit][:3])
        evidence = (f"{t.task_id} ({t.host}): {n} of {int(steps.sum())} kept steps above μ + 3σ = {_s(limit)} s "
                    f"(μ {_s(mu)} s, σ {_s(sd)} s)" + (f"; first at t_wall {at}" if n else ""))
        trig = n > STEP_OUTLIER_STEPS
        sev = lost / total if total else 0.0
        out.append(Check(m.config, name, t.host, TRIGGERED if trig else OK, evidence, threshold,
                         sev if trig else None, "Σ (step − μ) over the outliers / Σ step time",
                         f"see what else ran at the listed times on {t.host} (checkpoints, evaluation, other "
                         f"processes): {fmt_share(sev)} of the step time"))
    if not out:
        out.append(Check(m.config, name, None, NOT_EVALUATED, "no task with 2 or more kept step records", threshold))
    return out


def max_init_s(run) -> float:
    v = resolved_experiment(run.resolved).get("max_init_s")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else DEFAULT_MAX_INIT_S


def max_initialization(inp: RuleInput) -> list[Check]:
    m = inp.m
    name = "max initialization time"
    limit = max_init_s(inp.run)
    threshold = f"no first step within max_init_s = {_s(limit)} s of config_start"
    end = inp.run.control_first("config_end", m.config) or {}
    if end.get("reason_code") == STOPPED_MAX_INIT:
        return [Check(m.config, name, None, TRIGGERED,
                      f"stopped by the supervisor: {end.get('reason') or 'no first step in time'}", threshold, 1.0,
                      "stopped before any step: all of its time bought no result",
                      "find the slow start-up part (the tasks' phase records, stderr): a dataset already on "
                      "the host, warm starts, fewer imports")]
    su = m.startup
    if su is None:
        return [Check(m.config, name, None, NOT_EVALUATED, m.startup_method or "no start-up time", threshold)]
    train = m.training_time_s or 0.0
    trig = su.total_s > limit
    sev = su.total_s / (su.total_s + train) if su.total_s + train > 0 else 0.0
    slowest = max(((k, v) for k, v in su.parts() if v is not None), key=lambda kv: kv[1], default=None)
    evidence = (f"start-up {_s(su.total_s)} s (config_start → first step of {su.task_id})"
                + (f"; its largest part {slowest[0]} {_s(slowest[1])} s" if slowest else "")
                + f"; training {_s(train)} s")
    return [Check(m.config, name, None, TRIGGERED if trig else OK, evidence, threshold, sev if trig else None,
                  "start-up / (start-up + training): the share of the configuration's time before its first step",
                  f"shorten {slowest[0] if slowest else 'start-up'} (a dataset already on the host, warm starts): "
                  f"{fmt_share(sev)} of its time")]


RULES = [Rule("max initialization time", max_initialization), Rule("straggler host", straggler),
         Rule("input-bound", input_bound), Rule("communication-bound", communication_bound),
         Rule("shared cores", shared_cores), Rule("step outlier", step_outlier)]
