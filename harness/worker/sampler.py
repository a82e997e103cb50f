"""Utilization sampler: runs beside a run's tasks on every host (role "sampler") and writes
samples.jsonl in its task directory (schema in docs/events.md):

  sampler_start  once: interval_s, nvml, nvml_reason, cores, memory_total_bytes, gpus, ...
  sample         every interval: host CPU/memory/network/disk, the run's task processes, GPUs
  sampler_cost   every ~10 s: this process's own CPU use so far
  sampler_end    on SIGTERM/SIGINT, or once the run's tasks have been gone for
                 orphan_after_s (the control side died without stopping us): the same
                 cost fields, then exit 0

Budget: <= 0.1 % of one core at a 1 s interval. On a cold cache (one wake-up a second)
psutil's readings cost about 1 ms a sample here, the whole budget, so the same /proc files
psutil reads are kept open and re-read with pread (about 0.25 ms). Linux only; where a file
is missing its fields are null. No TensorFlow and no psutil import (start-up CPU counts too).
One failing reading is a null field, never a dead sampler."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from harness.protocol.events import EventLog
from harness.protocol.layout import SAMPLES_FILE
from harness.worker import nvml
from harness.worker.stopping import StopOnSignal

DEFAULT_INTERVAL_S = 1.0
TASK_SCAN_S = 5.0        # how often /proc is searched for new task processes
COST_EVERY_S = 10.0      # how often a sampler_cost record is written
ORPHAN_AFTER_S = 300.0   # exit once the run's tasks have all been gone this long
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SECTOR = 512             # /proc/diskstats counts 512-byte sectors whatever the device's


def run_sampler(spec: dict) -> int:
    interval = float(spec.get("interval_s") or DEFAULT_INTERVAL_S)
    run_id = os.environ.get("HARNESS_RUN_ID") or spec.get("run_id") or ""
    stop = StopOnSignal()
    log = EventLog(spec.get("events", SAMPLES_FILE), config=spec.get("config"),
                   task_id=spec.get("task_id", "sampler"), role="sampler", host=spec.get("host"))
    nv, reason = nvml.load_with_reason()
    handles: list = []
    if nv is not None:
        handles = _safe(lambda: nvml.gpu_handles(nv)) or []
        if not handles:
            nvml.shutdown(nv)
            nv, reason = None, "NVML found no GPU"
    try:
        sampler = _Sampler(run_id, float(spec.get("task_scan_s") or TASK_SCAN_S), nv, handles)
        log.emit("sampler_start", pid=os.getpid(), run_id=run_id, interval_s=interval,
                 nvml=nv is not None, nvml_reason=reason, cores=os.cpu_count(),
                 memory_total_bytes=_safe(lambda: sampler.memory()[0]),
                 gpus=[nvml.gpu_name(nv, h) for h in handles])
        cost = _Cost()
        cost_every = float(spec.get("cost_every_s") or COST_EVERY_S)
        orphan_after = float(spec.get("orphan_after_s", ORPHAN_AFTER_S) or 0)
        reason = "signal"
        next_cost = time.monotonic() + cost_every
        # Drift-free: tick k is due at t0 + k * interval, whatever sampling took.
        t0 = time.monotonic()
        k = 0
        while True:
            k += 1
            now = time.monotonic()
            if t0 + k * interval <= now:  # fell behind (host stalled): skip ticks, don't burst
                k = int((now - t0) / interval) + 1
            if stop.wait(t0 + k * interval - now):
                break
            log.emit("sample", **sampler.sample(t0 + k * interval))
            if time.monotonic() >= next_cost:
                log.emit("sampler_cost", **cost.fields(sampler.count))
                next_cost += cost_every
            # Normally the launcher stops us right after the tasks end. If it died instead
            # (killed, SSH cut), nobody will: don't sample an empty host forever.
            gone = sampler.tasks_gone_s()
            if orphan_after and gone is not None and gone >= orphan_after:
                reason = "no_tasks"
                break
        log.emit("sampler_end", reason=reason, signal=stop.signum, **cost.fields(sampler.count))
    finally:
        nvml.shutdown(nv)
        log.close()
        stop.restore()
    return 0


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


class _Cost:
    """The sampler's own CPU use: since its process started (interpreter start-up and
    imports included) and since sampling began (the steady cost of sampling itself)."""

    def __init__(self) -> None:
        self._age0 = _safe(_own_age_s)
        self._mono0 = time.monotonic()
        self._cpu0 = time.process_time()

    def fields(self, samples: int) -> dict:
        cpu = time.process_time()  # user + sys at ns resolution (os.times ticks at 10 ms)
        loop_wall = max(time.monotonic() - self._mono0, 1e-9)
        wall = (self._age0 + loop_wall) if self._age0 is not None else None
        loop_cpu = cpu - self._cpu0
        return {"samples": samples, "cpu_s": cpu, "wall_s": wall,
                "core_fraction": cpu / wall if wall else None,
                "loop_cpu_s": loop_cpu, "loop_wall_s": loop_wall, "loop_core_fraction": loop_cpu / loop_wall}


def _own_age_s() -> float:
    with open("/proc/self/stat", "rb") as fh:
        stat = fh.read()
    start_ticks = int(stat[stat.rindex(b")") + 2:].split()[19])  # field 22: starttime since boot
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / CLK_TCK


class _ProcFile:
    """A /proc file kept open and re-read from offset 0: no open/close or Python file
    object per reading."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self._size = 1 << 16

    def read(self) -> bytes:
        while True:
            data = os.pread(self.fd, self._size, 0)
            if len(data) < self._size:
                return data
            self._size *= 2  # /proc/stat of a many-core host: read it whole

    def close(self) -> None:
        os.close(self.fd)


def _open(path: str) -> _ProcFile | None:
    try:
        return _ProcFile(path)
    except OSError:
        return None


class _TaskProcesses:
    """The run's task processes on this host: HARNESS_RUN_ID equal to ours and HARNESS_TASK
    not a sampler, found via /proc/*/environ (children inherit the environment, so a task's
    process tree is included). Each found process's stat/statm stay open between samples:
    CPU % is its tick count's change since the last sample, and an fd still refers to the
    same process after its pid is reused (reads fail with ESRCH once it is gone)."""

    def __init__(self, run_id: str, scan_s: float, config: str | None = None) -> None:
        self._run_id = run_id.encode()
        # Configurations running in parallel may share a machine (sandbox hosts share one
        # process table): count only this configuration's tasks.
        if config is None and "/" in os.environ.get("HARNESS_TASK", ""):
            config = os.environ["HARNESS_TASK"].rsplit("/", 1)[0]   # ours: "<config>/sampler"
        self._config = (config + "/").encode() if config else b""
        self._scan_s = scan_s
        self._next_scan = 0.0
        self._procs: dict[int, list] = {}  # pid -> [stat, statm, cpu ticks, t_mono]
        self._pending: set[int] = set()    # not ours at their first look: look once more
        self._settled: set[int] = set()    # not ours at two looks a scan apart

    def _is_task(self, pid: int) -> bool:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            data = fh.read()
        if b"HARNESS_RUN_ID=" + self._run_id not in data:  # cheap reject before parsing
            return False
        env = dict(e.split(b"=", 1) for e in data.split(b"\0") if b"=" in e)
        task = env.get(b"HARNESS_TASK", b"")
        return env.get(b"HARNESS_RUN_ID") == self._run_id and not task.endswith(b"/sampler") \
            and (not task or task.startswith(self._config))

    def _scan(self) -> None:
        pids = {int(n) for n in os.listdir("/proc") if n.isdigit()}
        self._settled &= pids  # forget ended pids, so a reused pid is judged afresh
        # A pid caught between fork and exec still has its parent's environment, so one
        # negative look is not final; a second one a scan later is.
        recheck, self._pending = self._pending & pids, set()
        for pid in pids - self._settled - self._procs.keys():
            try:
                ours = bool(self._run_id) and self._is_task(pid)
            except OSError:  # ended meanwhile, or another user's process
                ours = False
            if ours:
                self._track(pid)
            elif pid in recheck:
                self._settled.add(pid)
            else:
                self._pending.add(pid)

    def _track(self, pid: int) -> None:
        try:
            stat, statm = _ProcFile(f"/proc/{pid}/stat"), _ProcFile(f"/proc/{pid}/statm")
        except OSError:
            return
        entry = [stat, statm, 0, time.monotonic()]
        try:
            entry[2] = _proc_ticks(stat.read())
        except (OSError, ValueError):
            self._drop(entry)
            return
        self._procs[pid] = entry

    @staticmethod
    def _drop(entry: list) -> None:
        entry[0].close()
        entry[1].close()

    def read(self) -> dict:
        now = time.monotonic()
        if now >= self._next_scan:
            self._next_scan = now + self._scan_s
            self._scan()
        cpu = 0.0
        rss = 0
        for pid, e in list(self._procs.items()):
            try:
                ticks = _proc_ticks(e[0].read())
                rss += int(e[1].read().split()[1]) * PAGE
            except (OSError, ValueError):  # gone (ESRCH) or a zombie: its CPU is all counted
                self._drop(self._procs.pop(pid))
                continue
            if e[3] >= now:  # found by this very scan: its baseline is microseconds old
                continue
            t = time.monotonic()
            cpu += 100.0 * (ticks - e[2]) / CLK_TCK / (t - e[3])
            e[2], e[3] = ticks, t
        return {"cpu_percent": round(cpu, 1), "rss_bytes": rss, "processes": len(self._procs)}


def _proc_ticks(stat: bytes) -> int:
    """utime + stime (clock ticks) from /proc/<pid>/stat; ValueError for a zombie."""
    f = stat[stat.rindex(b")") + 2:].split()  # the name in () may contain spaces
    if f[0] == b"Z":
        raise ValueError("zombie")
    return int(f[11]) + int(f[12])


class _Sampler:
    def __init__(self, run_id: str, task_scan_s: float, nv: Any | None, handles: list) -> None:
        self.count = 0
        self._tasks_seen: float | None = None
        self._nv, self._handles = nv, handles
        self._stat = _open("/proc/stat")
        self._meminfo = _open("/proc/meminfo")
        self._netdev = _open("/proc/net/dev")
        self._diskstats = _open("/proc/diskstats")
        self._is_disk: dict[bytes, bool] = {}
        self._tasks = _TaskProcesses(run_id, task_scan_s)
        # Baselines: CPU % and the rates of the first sample are measured from here.
        _safe(self._tasks.read)
        self._cpu = _safe(self._cpu_ticks)
        self._net = _safe(self._net_bytes)
        self._disk = _safe(self._disk_bytes)
        self._t = time.monotonic()

    def tasks_gone_s(self) -> float | None:
        """Seconds since the last sample that saw a task process, once one was seen."""
        return None if self._tasks_seen is None else time.monotonic() - self._tasks_seen

    def sample(self, due: float) -> dict:
        now = time.monotonic()
        dt = now - self._t
        self._t = now
        cpu, self._cpu = self._cpu, _safe(self._cpu_ticks)
        net, self._net = self._net, _safe(self._net_bytes)
        disk, self._disk = self._disk, _safe(self._disk_bytes)
        per_core = _safe(lambda: [_busy_percent(cpu.get(n), t) for n, t in self._cpu.items() if n != b"cpu"])
        mem = _safe(self.memory) or (None, None)
        rec = {
            "dt_s": dt,
            "late_s": now - due,  # wake-up delay past the tick: large when the host is saturated
            "cpu_percent": _safe(lambda: _busy_percent(cpu.get(b"cpu"), self._cpu[b"cpu"])),
            "cpu_percent_per_core": per_core,
            "load1": _safe(lambda: os.getloadavg()[0]),
            "mem_used_bytes": mem[0] - mem[1] if None not in mem else None,  # as `free` and psutil
            "mem_available_bytes": mem[1],
            "net_sent_bytes_per_s": _rate(net, self._net, 0, dt),
            "net_recv_bytes_per_s": _rate(net, self._net, 1, dt),
            "disk_read_bytes_per_s": _rate(disk, self._disk, 0, dt),
            "disk_write_bytes_per_s": _rate(disk, self._disk, 1, dt),
            "tasks": _safe(self._tasks.read) or {"cpu_percent": None, "rss_bytes": None, "processes": None},
        }
        if rec["tasks"]["processes"]:
            self._tasks_seen = now
        if self._nv is not None:
            rec["gpus"] = _safe(lambda: nvml.gpu_readings(self._nv, self._handles))
        self.count += 1
        return rec

    def _cpu_ticks(self) -> dict[bytes, tuple[int, int]]:
        """{"cpu": (all, idle), "cpu0": ...}; guest time is already inside user time."""
        out = {}
        for line in self._stat.read().split(b"\n"):
            if not line.startswith(b"cpu"):
                break
            v = line.split()
            ticks = [int(x) for x in v[1:9]]  # user nice system idle iowait irq softirq steal
            out[v[0]] = (sum(ticks), ticks[3] + ticks[4])
        return out

    def memory(self) -> tuple[int | None, int | None]:
        """(MemTotal, MemAvailable) in bytes."""
        total = avail = None
        for line in self._meminfo.read().split(b"\n"):
            if line.startswith(b"MemTotal:"):
                total = int(line.split()[1]) * 1024
            elif line.startswith(b"MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
        return total, avail

    def _net_bytes(self) -> tuple[int, int]:
        """(sent, received) over every interface but loopback: the figure is traffic to
        other hosts, and loopback would count each local byte as sent and as received."""
        sent = recv = 0
        for line in self._netdev.read().split(b"\n")[2:]:
            name, _, counters = line.partition(b":")
            if counters and name.strip() != b"lo":
                f = counters.split()
                recv += int(f[0])
                sent += int(f[8])
        return sent, recv

    def _disk_bytes(self) -> tuple[int, int] | None:
        """(read, written) bytes over physical disks only: partitions, LVM/md and loop
        devices would count the same bytes again."""
        rd = wr = 0
        found = False
        for line in self._diskstats.read().split(b"\n"):
            f = line.split()
            if len(f) < 10:
                continue
            name = f[2]
            if name not in self._is_disk:
                self._is_disk[name] = os.path.exists(b"/sys/block/" + name.replace(b"/", b"!") + b"/device")
            if self._is_disk[name]:
                found = True
                rd += int(f[5])
                wr += int(f[9])
        return (rd * SECTOR, wr * SECTOR) if found else None


def _busy_percent(prev: tuple[int, int] | None, cur: tuple[int, int]) -> float | None:
    if prev is None:
        return None
    total = cur[0] - prev[0]
    return round(100.0 * (total - (cur[1] - prev[1])) / total, 1) if total > 0 else 0.0


def _rate(prev: tuple | None, cur: tuple | None, i: int, dt: float) -> float | None:
    if prev is None or cur is None or dt <= 0:
        return None
    return max(cur[i] - prev[i], 0) / dt  # a counter reset (interface re-created) is not traffic
