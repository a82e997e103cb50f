"""Utilization sampler: runs beside a run's tasks on every host (role "sampler") and writes
samples.jsonl in its task directory. Records (schema in docs/events.md):

  sampler_start  once: interval_s, nvml, nvml_reason, cores, memory_total_bytes, gpus, ...
  sample         every interval: host CPU/memory/network/disk, the run's task processes, GPUs
  sampler_cost   every ~10 s: this process's own CPU cost
  sampler_end    on SIGTERM/SIGINT: the same cost fields, then exit 0

It must stay cheap (target <= 0.1 % of one core at 1 s) and never die of one bad reading.
No TensorFlow here: importing it would cost more than a whole run of sampling."""

from __future__ import annotations

import os
import select
import signal
import time
from typing import Any, Callable

import psutil

from harness.events import EventLog
from harness.worker import nvml

DEFAULT_INTERVAL_S = 1.0
TASK_SCAN_S = 5.0        # how often /proc is searched for new task processes
COST_EVERY_S = 10.0      # how often a sampler_cost record is written


def run_sampler(spec: dict) -> int:
    interval = float(spec.get("interval_s") or DEFAULT_INTERVAL_S)
    run_id = os.environ.get("HARNESS_RUN_ID") or spec.get("run_id") or ""
    stop = _StopOnSignal()
    log = EventLog(spec.get("events", "samples.jsonl"), config=spec.get("config"),
                   task_id=spec.get("task_id", "sampler"), role="sampler", host=spec.get("host"))
    nv, reason = nvml.load_with_reason()
    handles: list = []
    if nv is not None:
        handles = _safe(lambda: nvml.gpu_handles(nv)) or []
        if not handles:
            reason = "NVML found no GPU"
            nvml.shutdown(nv)
            nv = None
    try:
        sampler = _Sampler(run_id, float(spec.get("task_scan_s") or TASK_SCAN_S), nv, handles)
        names = [_safe(lambda h=h: nvml._text(nv.nvmlDeviceGetName(h))) for h in handles]
        log.emit("sampler_start", pid=os.getpid(), run_id=run_id, interval_s=interval,
                 nvml=nv is not None, nvml_reason=reason, cores=psutil.cpu_count(),
                 memory_total_bytes=_safe(lambda: psutil.virtual_memory().total), gpus=names)
        cost = _Cost()
        cost_every = float(spec.get("cost_every_s") or COST_EVERY_S)
        next_cost = time.monotonic() + cost_every
        # Drift-free: tick k is due at t0 + k * interval, whatever the sampling took.
        t0 = time.monotonic()
        k = 0
        while True:
            k += 1
            now = time.monotonic()
            if t0 + k * interval <= now:  # fell behind (host stalled): skip, don't burst
                k = int((now - t0) / interval) + 1
            if stop.wait(t0 + k * interval - now):
                break
            log.emit("sample", **sampler.sample())
            if time.monotonic() >= next_cost:
                log.emit("sampler_cost", **cost.fields(sampler.count))
                next_cost += cost_every
        log.emit("sampler_end", signal=stop.signum, **cost.fields(sampler.count))
    finally:
        nvml.shutdown(nv)
        log.close()
        stop.restore()
    return 0


def _safe(fn: Callable[[], Any]) -> Any:
    """A reading that fails is a null field, never a dead sampler."""
    try:
        return fn()
    except Exception:
        return None


class _StopOnSignal:
    """SIGTERM/SIGINT set a flag and write to a pipe that the sleep selects on, so the
    sleep ends at once. (Not threading.Event: set() from a handler can deadlock when the
    signal lands while the main thread holds the event's lock inside wait().)"""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        self._previous = {}
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread (called in-process): no handlers
                pass

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        try:
            os.write(self._w, b"x")
        except OSError:  # pipe full: a wake-up is already pending
            pass

    def wait(self, timeout: float) -> bool:
        """Sleep up to timeout seconds; True when a stop signal has arrived."""
        if self.signum is None and timeout > 0:
            select.select([self._r], [], [], timeout)
        return self.signum is not None

    def restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        os.close(self._r)
        os.close(self._w)


class _Cost:
    """The sampler's own CPU use: since its process started (interpreter start and imports
    included) and since sampling began (the steady-state cost of sampling itself)."""

    def __init__(self) -> None:
        self._proc_start_wall = _safe(lambda: psutil.Process().create_time()) or time.time()
        self._loop_cpu0 = self._cpu()
        self._loop_mono0 = time.monotonic()

    @staticmethod
    def _cpu() -> float:
        return time.process_time()  # user + sys, ns resolution (os.times ticks at 10 ms)

    def fields(self, samples: int) -> dict:
        cpu = self._cpu()
        wall = max(time.time() - self._proc_start_wall, 1e-9)
        loop_cpu = cpu - self._loop_cpu0
        loop_wall = max(time.monotonic() - self._loop_mono0, 1e-9)
        return {"samples": samples, "cpu_s": cpu, "wall_s": wall, "core_fraction": cpu / wall,
                "loop_cpu_s": loop_cpu, "loop_wall_s": loop_wall, "loop_core_fraction": loop_cpu / loop_wall}


class _TaskProcesses:
    """The run's task processes on this host: HARNESS_RUN_ID equal to ours and HARNESS_TASK
    not a sampler. Found via /proc/*/environ (catches children, which inherit the
    environment); psutil.Process objects are kept so cpu_percent measures between samples."""

    def __init__(self, run_id: str, scan_s: float) -> None:
        self._run_id = run_id.encode()
        self._scan_s = scan_s
        self._next_scan = 0.0
        self._procs: dict[int, psutil.Process] = {}
        self._pending: set[int] = set()   # not ours at their first look: look once more
        self._settled: set[int] = set()   # not ours at two looks a scan apart

    def _is_task(self, pid: int) -> bool:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            data = fh.read()
        if b"HARNESS_RUN_ID=" + self._run_id not in data:  # cheap reject before parsing
            return False
        env = dict(e.split(b"=", 1) for e in data.split(b"\0") if b"=" in e)
        return env.get(b"HARNESS_RUN_ID") == self._run_id and not env.get(b"HARNESS_TASK", b"").endswith(b"/sampler")

    def _scan(self) -> None:
        pids = {int(n) for n in os.listdir("/proc") if n.isdigit()}
        # Forget pids that ended, so a reused pid is judged afresh.
        self._settled &= pids
        for pid in [p for p in self._procs if p not in pids]:
            del self._procs[pid]
        # A pid seen between fork and exec still has its parent's environment, so one
        # negative look is not final; a second one a scan later is.
        recheck, self._pending = self._pending & pids, set()
        for pid in (pids - self._settled - self._procs.keys()):
            try:
                ours = self._is_task(pid)
            except OSError:  # ended meanwhile, or another user's process
                ours = False
            if ours:
                try:
                    p = psutil.Process(pid)
                    p.cpu_percent()  # baseline: the next call measures from here
                    self._procs[pid] = p
                except psutil.Error:
                    pass
            elif pid in recheck:
                self._settled.add(pid)
            else:
                self._pending.add(pid)

    def read(self) -> dict:
        now = time.monotonic()
        if now >= self._next_scan:
            self._next_scan = now + self._scan_s
            self._scan()
        cpu = 0.0
        rss = 0
        for pid, p in list(self._procs.items()):
            try:
                with p.oneshot():
                    cpu += p.cpu_percent()
                    rss += p.memory_info().rss
            except psutil.Error:  # ended (or became a zombie) since the last scan
                del self._procs[pid]
        return {"cpu_percent": round(cpu, 1), "rss_bytes": rss, "processes": len(self._procs)}


class _Sampler:
    def __init__(self, run_id: str, task_scan_s: float, nv: Any | None, handles: list) -> None:
        self.count = 0
        self._nv, self._handles = nv, handles
        self._tasks = _TaskProcesses(run_id, task_scan_s)
        # Baselines: cpu_percent and the rates are measured from here to the first sample.
        psutil.cpu_percent(percpu=True)
        self._tasks.read()
        self._t = time.monotonic()
        self._net = _safe(_net_counters)
        self._disk = _safe(psutil.disk_io_counters)

    def sample(self) -> dict:
        now = time.monotonic()
        dt = now - self._t
        self._t = now
        per_core = _safe(lambda: psutil.cpu_percent(percpu=True))
        mem = _safe(psutil.virtual_memory)
        net, self._net = self._net, _safe(_net_counters)
        disk, self._disk = self._disk, _safe(psutil.disk_io_counters)
        rec = {
            "dt_s": dt,
            "cpu_percent": round(sum(per_core) / len(per_core), 1) if per_core else None,
            "cpu_percent_per_core": per_core,
            "load1": _safe(lambda: os.getloadavg()[0]),
            "mem_used_bytes": mem.used if mem else None,
            "mem_available_bytes": mem.available if mem else None,
            "net_sent_bytes_per_s": _rate(net, self._net, 0, dt),
            "net_recv_bytes_per_s": _rate(net, self._net, 1, dt),
            "disk_read_bytes_per_s": _rate(disk, self._disk, "read_bytes", dt),
            "disk_write_bytes_per_s": _rate(disk, self._disk, "write_bytes", dt),
            "tasks": _safe(self._tasks.read) or {"cpu_percent": None, "rss_bytes": None, "processes": None},
        }
        if self._nv is not None:
            rec["gpus"] = _safe(lambda: nvml.gpu_readings(self._nv, self._handles))
        self.count += 1
        return rec


def _net_counters() -> tuple[int, int]:
    """(sent, received) bytes over every interface but loopback: the network figure is
    traffic to other hosts, and loopback would count each local byte as sent and received."""
    sent = recv = 0
    for name, c in psutil.net_io_counters(pernic=True).items():
        if name != "lo":
            sent += c.bytes_sent
            recv += c.bytes_recv
    return sent, recv


def _rate(prev: Any, cur: Any, key: int | str, dt: float) -> float | None:
    if prev is None or cur is None or dt <= 0:
        return None
    a, b = (prev[key], cur[key]) if isinstance(key, int) else (getattr(prev, key), getattr(cur, key))
    return max(b - a, 0) / dt  # a counter reset (interface re-created) is not negative traffic
