"""Rules on the samplers' samples inside the training window (pure): the SageMaker Debugger
profiler rules that need utilization (low GPU, CPU and I/O bottleneck, batch size, GPU
memory increase) and this project's noisy neighbour and memory pressure. Formulas,
thresholds and worked examples: docs/metrics.md, "Diagnoses"."""

from __future__ import annotations

from typing import Optional

import numpy as np

from harness.protocol import stats
from harness.report.figures import rightsize
from harness.report.figures.diagnose import (MIN_POINTS, NOT_EVALUATED, OK, TRIGGERED, Check, HostWindow, Rule,
                                             RuleInput, fmt_share)
from harness.report.figures.rules_steps import SYNCHRONOUS
from harness.report.figures.utilization import fmt_t

LOW_GPU_P95 = 70.0            # p95 GPU % below: underused
LOW_GPU_P5 = 10.0             # p95 above LOW_GPU_P95 but p5 below this: fluctuating
BOTTLENECK_GPU = 10.0         # a point with GPU % below this is a GPU waiting ...
BOTTLENECK_CPU = 90.0         # ... on a CPU above this (CPU bottleneck)
BOTTLENECK_IOWAIT = 50.0      # ... or on I/O wait above this (I/O bottleneck)
BOTTLENECK_SHARE = 0.50       # of the points
BATCH_SIZE_P95 = 70.0         # every p95 (CPU, GPU, GPU memory) below this
GPU_MEMORY_INCREASE = 0.05    # of the total, last quarter of the points over the first
NOISY_OTHERS_SHARE = 0.25     # other processes' mean share of the host's cores
NOISY_HOST_CPU = 80.0         # ... while the host's mean CPU is above this
MEMORY_PRESSURE_AVAILABLE_SHARE = 0.10
THRASH_SWAP_IN_BYTES_PER_S = 1 << 20
THRASH_MAJOR_FAULTS_PER_S = 1000.0
THRASH_SHARE = 0.10


def _s(x: float) -> str:
    return f"{x:.4g}"


def _valid(*arrays: np.ndarray) -> np.ndarray:
    ok = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= ~np.isnan(a)
    return ok


def _span(w: HostWindow, mask: np.ndarray) -> str:
    t = w.t[mask]
    return f"{int(mask.sum())} samples of {w.host}, t_wall {fmt_t(float(t.min()))}–{fmt_t(float(t.max()))}" \
        if len(t) else f"no samples of {w.host}"


def _gpu_hosts(inp: RuleInput, name: str, threshold: str) -> tuple[list[HostWindow], list[Check]]:
    gpu = [w for w in inp.windows if w.has_gpus]
    if gpu:
        return gpu, []
    why = "; ".join(f"{h.host}: {h.nvml_reason or 'no GPU samples'}" for h in inp.u.hosts) or "no sampler records"
    return [], [Check(inp.m.config, name, None, NOT_EVALUATED, f"no GPU utilization samples ({why})", threshold)]


def low_gpu(inp: RuleInput) -> list[Check]:
    name = "low GPU utilization"
    threshold = (f"p95 GPU < {LOW_GPU_P95:g} %, or p95 > {LOW_GPU_P95:g} % with p5 < {LOW_GPU_P5:g} %")
    hosts, out = _gpu_hosts(inp, name, threshold)
    for w in hosts:
        ok = _valid(w.gpu)
        u = w.gpu[ok]
        if len(u) < MIN_POINTS:
            out.append(Check(inp.m.config, name, w.host, NOT_EVALUATED,
                             f"{len(u)} GPU samples in the training window; needs {MIN_POINTS}", threshold))
            continue
        p95, p5, mean = stats.percentile(u.tolist(), 95), stats.percentile(u.tolist(), 5), float(u.mean())
        evidence = f"GPU % (mean of GPUs) mean {_s(mean)}, p95 {_s(p95)}, p5 {_s(p5)} over {_span(w, ok)}"
        if p95 < LOW_GPU_P95:
            sev = 1 - mean / 100
            cpu = w.cpu[_valid(w.cpu)]
            p95s = {"GPU": p95, "CPU": stats.percentile(cpu.tolist(), 95) if len(cpu) >= MIN_POINTS else None}
            out.append(Check(inp.m.config, name, w.host, TRIGGERED, evidence + ": underused", threshold, sev,
                             "1 − mean GPU %/100: the GPU time paid for and idle",
                             f"a larger batch, or a smaller GPU instance: at p95 {_s(p95)} % the work fits in "
                             f"{_s(p95)} % of this GPU; up to {fmt_share(sev)} of the GPU-hours back"
                             + _smaller(inp, w, p95s)))
        elif p5 < LOW_GPU_P5:
            sev = float((u < LOW_GPU_P5).mean())
            out.append(Check(inp.m.config, name, w.host, TRIGGERED, evidence + ": fluctuating", threshold, sev,
                             f"share of samples with GPU < {LOW_GPU_P5:g} %",
                             "a steadier input pipeline (prefetch, more input threads) so the GPU is not left "
                             f"waiting: {fmt_share(sev)} of the samples had it idle"))
        else:
            out.append(Check(inp.m.config, name, w.host, OK, evidence, threshold))
    return out


def _bottleneck(inp: RuleInput, name: str, field: str, limit: float, action: str) -> list[Check]:
    threshold = (f"GPU < {BOTTLENECK_GPU:g} % while {field} > {limit:g} % in > "
                 f"{fmt_share(BOTTLENECK_SHARE)} of the samples")
    hosts, out = _gpu_hosts(inp, name, threshold)
    for w in hosts:
        other = w.cpu if field == "cpu_percent" else w.iowait
        ok = _valid(w.gpu, other)
        if ok.sum() < MIN_POINTS:
            out.append(Check(inp.m.config, name, w.host, NOT_EVALUATED,
                             f"{int(ok.sum())} samples with GPU % and {field}; needs {MIN_POINTS}", threshold))
            continue
        hit = (w.gpu[ok] < BOTTLENECK_GPU) & (other[ok] > limit)
        share = float(hit.mean())
        evidence = f"{int(hit.sum())} of {_span(w, ok)} had GPU < {BOTTLENECK_GPU:g} % and {field} > {limit:g} %"
        trig = share > BOTTLENECK_SHARE
        out.append(Check(inp.m.config, name, w.host, TRIGGERED if trig else OK, f"{evidence} ({fmt_share(share)})",
                         threshold, share if trig else None, "share of samples with the GPU waiting", action))
    return out


def cpu_bottleneck(inp: RuleInput) -> list[Check]:
    return _bottleneck(inp, "CPU bottleneck", "cpu_percent", BOTTLENECK_CPU,
                       "more vCPUs per GPU (a larger instance of the same GPU) or less CPU work per image "
                       "(a cached decoded dataset, augmentation on the GPU)")


def io_bottleneck(inp: RuleInput) -> list[Check]:
    return _bottleneck(inp, "I/O bottleneck", "cpu_iowait_percent", BOTTLENECK_IOWAIT,
                       "the dataset in memory (cache) or on faster storage, and more prefetch")


def batch_size(inp: RuleInput) -> list[Check]:
    name = "batch size"
    threshold = f"p95 of CPU (and GPU, GPU memory on a GPU host) all < {BATCH_SIZE_P95:g} %"
    training = {t.host for t in inp.m.tasks if t.step_records}
    slowest = _critical_host(inp)
    out = []
    for w in inp.windows:
        if w.host not in training:
            continue
        if slowest is not None and w.host != slowest[0]:
            # Synchronous ranks wait for the slowest one: idle here is waiting (the straggler
            # rule's), not a batch too small; the slowest rank's host tells.
            out.append(Check(inp.m.config, name, w.host, OK, f"not evaluated here: its rank waits for the slowest "
                             f"one ({slowest[1]} on {slowest[0]}, by calibration compute time)", threshold))
            continue
        parts = [("CPU", w.cpu)] + ([("GPU", w.gpu), ("GPU memory", 100 * w.gpu_mem_share)] if w.has_gpus else [])
        p95s = []
        for label, a in parts:
            x = a[~np.isnan(a)]
            p95s.append((label, stats.percentile(x.tolist(), 95) if len(x) >= MIN_POINTS else None))
        if any(p is None for _, p in p95s):
            out.append(Check(inp.m.config, name, w.host, NOT_EVALUATED,
                             f"fewer than {MIN_POINTS} samples of {', '.join(l for l, p in p95s if p is None)} "
                             f"in the training window", threshold))
            continue
        top = max(p for _, p in p95s)
        evidence = "p95 " + ", ".join(f"{label} {_s(p)} %" for label, p in p95s) + f" over {_span(w, _valid(w.cpu))}"
        if w.cpu_limit:
            evidence += f" (CPU {w.cpu_basis})"
        if top < BATCH_SIZE_P95:
            sev = 1 - top / 100
            out.append(Check(inp.m.config, name, w.host, TRIGGERED, evidence, threshold, sev,
                             "1 − the largest p95/100: the host's share unused even at its peaks",
                             f"a larger batch (about ×{max(2, int(BATCH_SIZE_P95 // max(top, 1)))}) or a smaller "
                             f"instance: at its peaks the work used {_s(top)} % of this one"
                             + _smaller(inp, w, dict(p95s))))
        else:
            out.append(Check(inp.m.config, name, w.host, OK, evidence, threshold))
    return out


def _smaller(inp: RuleInput, w: HostWindow, p95s: dict) -> str:
    """"; <a cheaper type of the same family that holds the peak>" (rightsize.py), or ""."""
    if inp.catalog is None or not w.cores or p95s.get("CPU") is None:
        return ""
    itype = rightsize.declared_type(inp.run, inp.m.config, w.host)
    gpus = len(w.gpu_mem_per_gpu)
    mem = w.mem_used[~np.isnan(w.mem_used)] if w.mem_used is not None else np.array([])
    demand = rightsize.Demand(p95s["CPU"] / 100 * w.cores, (p95s.get("GPU") or 0.0) / 100 * gpus,
                              float(mem.max()) if len(mem) else None)
    found = rightsize.smaller_type(itype, demand, inp.catalog, inp.facts)
    if found is not None:
        return "; " + found.text()
    return (f"; no cheaper {itype.split('.')[0]} type in the price catalog holds that peak"
            if inp.catalog.get(itype) else "")


def _critical_host(inp: RuleInput) -> Optional[tuple[str, str]]:
    """(host, task) of a synchronous configuration's slowest rank by calibration compute
    time, when its ranks span hosts; else None."""
    a = inp.sc.comm
    if inp.m.strategy not in SYNCHRONOUS or a is None or len({r.host for r in a.ranks}) < 2:
        return None
    r = max(a.ranks, key=lambda r: r.share.t_compute_s)
    return r.host, r.task_id


def gpu_memory_increase(inp: RuleInput) -> list[Check]:
    name = "GPU memory increase"
    threshold = f"GPU memory used, last quarter − first quarter of the samples > {fmt_share(GPU_MEMORY_INCREASE)} of total"
    hosts, out = _gpu_hosts(inp, name, threshold)
    for w in hosts:
        for i, share in sorted(w.gpu_mem_per_gpu.items()):
            x = share[~np.isnan(share)]
            if len(x) < 8:
                out.append(Check(inp.m.config, name, w.host, NOT_EVALUATED,
                                 f"GPU {i}: {len(x)} memory samples in the window; needs 8", threshold))
                continue
            q = len(x) // 4
            first, last = float(x[:q].mean()), float(x[-q:].mean())
            trig = last - first > GPU_MEMORY_INCREASE
            out.append(Check(inp.m.config, name, w.host, TRIGGERED if trig else OK,
                             f"GPU {i}: mean used {fmt_share(first)} of total over the first {q} samples, "
                             f"{fmt_share(last)} over the last {q} ({len(x)} samples in the window)", threshold,
                             None, "a risk (out of memory on a longer run), not a measured slowdown",
                             "look for tensors kept across steps (a growing cache, a history list)"))
    return out


def noisy_neighbour(inp: RuleInput) -> list[Check]:
    name = "noisy neighbour"
    threshold = (f"other processes use > {fmt_share(NOISY_OTHERS_SHARE)} of the host's cores while its mean CPU "
                 f"> {NOISY_HOST_CPU:g} %")
    out = []
    for w in inp.windows:
        ok = _valid(w.cpu, w.tasks_cpu)
        if not w.cores or ok.sum() < MIN_POINTS:
            why = "no core count in sampler_start" if not w.cores else (
                f"{int(ok.sum())} samples with host and task CPU readings in the training window; needs {MIN_POINTS}")
            out.append(Check(inp.m.config, name, w.host, NOT_EVALUATED, why, threshold))
            continue
        host_cores = w.cpu[ok] / 100 * w.cores
        task_cores = w.tasks_cpu[ok] / 100
        others = np.maximum(0.0, host_cores - task_cores)
        share = float(others.mean()) / w.cores
        cpu = float(w.cpu[ok].mean())
        evidence = (f"host CPU mean {_s(cpu)} % {w.cpu_basis}; the training tasks used "
                    f"{_s(float(task_cores.mean()))} cores, other processes {_s(float(others.mean()))} cores "
                    f"({fmt_share(share)} of the host), over {_span(w, ok)}")
        trig = share > NOISY_OTHERS_SHARE and cpu > NOISY_HOST_CPU
        out.append(Check(inp.m.config, name, w.host, TRIGGERED if trig else OK, evidence, threshold,
                         share if trig else None, "other processes' mean share of the host's cores",
                         f"stop the other processes on {w.host} or give the training a host of its own: "
                         f"up to {fmt_share(share)} of its CPU back"))
    if not inp.windows:
        out.append(Check(inp.m.config, name, None, NOT_EVALUATED, "no sampler records", threshold))
    return out


def memory_pressure(inp: RuleInput) -> list[Check]:
    name = "memory pressure"
    threshold = (f"available memory < {fmt_share(MEMORY_PRESSURE_AVAILABLE_SHARE)} of total at any sample, or "
                 f"thrashing (swap-in > {THRASH_SWAP_IN_BYTES_PER_S / 2 ** 20:g} MiB/s or major faults > "
                 f"{THRASH_MAJOR_FAULTS_PER_S:g}/s) in > {fmt_share(THRASH_SHARE)} of the window's samples")
    windows = {w.host: w for w in inp.windows}
    out = []
    for h in inp.u.hosts:
        w = windows.get(h.host)
        thrash: Optional[float] = None
        text = ""
        if w is not None and w.swap_in is not None:
            ok = _valid(w.swap_in, w.major_faults)
            if ok.sum() >= MIN_POINTS:
                hit = (w.swap_in[ok] > THRASH_SWAP_IN_BYTES_PER_S) | (w.major_faults[ok] > THRASH_MAJOR_FAULTS_PER_S)
                thrash = float(hit.mean())
                text = (f"thrashing in {int(hit.sum())} of {_span(w, ok)} ({fmt_share(thrash)}; peak swap-in "
                        f"{_s(float(w.swap_in[ok].max()))} B/s, major faults {_s(float(w.major_faults[ok].max()))}/s)")
        low = h.mem_available_min_share
        if low is None and thrash is None:
            out.append(Check(inp.m.config, name, h.host, NOT_EVALUATED,
                             "no memory readings (memory_total_bytes, mem_available_bytes, swap-in/major faults)",
                             threshold))
            continue
        parts = [text] if text else []
        if low is not None:
            parts.insert(0, f"lowest available {fmt_share(low)} of {h.memory_total_bytes:.0f} bytes at t_wall "
                            f"{fmt_t(h.mem_available_min_t_wall)} (all {h.samples_total} samples of the configuration)")
        trig = (low is not None and low < MEMORY_PRESSURE_AVAILABLE_SHARE) or (thrash or 0) > THRASH_SHARE
        out.append(Check(inp.m.config, name, h.host, TRIGGERED if trig else OK, "; ".join(parts), threshold,
                         (thrash or 0.0) if trig else None,
                         "share of the window's samples thrashing (0: low memory alone is a risk)",
                         "a host with more memory, or a smaller batch / less of the dataset held in memory"))
    if not inp.u.hosts:
        out.append(Check(inp.m.config, name, None, NOT_EVALUATED, "no sampler records", threshold))
    return out


RULES = [Rule("low GPU utilization", low_gpu), Rule("CPU bottleneck", cpu_bottleneck),
         Rule("I/O bottleneck", io_bottleneck), Rule("batch size", batch_size),
         Rule("GPU memory increase", gpu_memory_increase), Rule("noisy neighbour", noisy_neighbour),
         Rule("memory pressure", memory_pressure)]
