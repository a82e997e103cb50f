"""Utilization sampler: runs beside a run's tasks on every host (role "sampler") and writes
samples.jsonl in its task directory (schema in docs/events.md):

  sampler_start  once: interval_s, nvml, nvml_reason, cores, memory_total_bytes, gpus, and
                 the host's cgroup limits (cpu_limit_cores, memory_limit_bytes; null: none)
  sample         every interval: host CPU/memory/network/disk, the run's task processes (and
                 every 2 s their threads' time on and waiting for a CPU: run_queue.py), GPUs,
                 and under a limit the group's cgroup_cpu_percent / cgroup_mem_used_bytes
  sampler_cost   every ~10 s: this process's own CPU use so far
  sampler_end    on SIGTERM/SIGINT, or once the run's tasks have been gone for
                 orphan_after_s (the control side died without stopping us): the same
                 cost fields, then exit 0

Host and process figures come from psutil, GPU figures from NVML (pynvml). Budget: <= 0.1 %
of one core at a 1 s interval; one psutil sample of host CPU, memory, network, disk and a
few processes costs about 0.74 ms of CPU here (benchmarks/sampler_cost.py prints the
figure); looking for new task processes at every sample (not every 5 s: a task that
started in between was missing from up to 5 samples) and reading /proc/vmstat raised it to
about 1.0-1.3 ms on this shared 2-core machine (0.96 ms before, same bench, same hour). No TensorFlow import. One failing reading is a null field, never a dead sampler."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import psutil

from harness.protocol.constants import WARM_ZYGOTE_ENV
from harness.protocol.events import EventLog
from harness.protocol.spec import TaskSpec
from harness.worker import cgroup_limits, nvml, own_cost, run_queue, warm_cpu
from harness.worker.stopping import StopOnSignal

DEFAULT_INTERVAL_S = 1.0
TASK_SCAN_S = 0.0        # how often /proc is searched for new task processes (0: every sample)
COST_EVERY_S = 10.0      # how often a sampler_cost record is written
ORPHAN_AFTER_S = 300.0   # exit once the run's tasks have all been gone this long
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def run_sampler(spec: TaskSpec) -> int:
    interval = float(spec.interval_s or DEFAULT_INTERVAL_S)
    run_id = os.environ.get("HARNESS_RUN_ID") or spec.run_id
    stop = StopOnSignal()
    log = EventLog(spec.events, config=spec.config, task_id=spec.task_id, role="sampler", host=spec.host)
    nv, reason = nvml.load_with_reason()
    handles: list = []
    if nv is not None:
        handles = _safe(lambda: nvml.gpu_handles(nv)) or []
        if not handles:
            nvml.shutdown(nv)
            nv, reason = None, "NVML found no GPU"
    try:
        sampler = _Sampler(run_id, float(spec.task_scan_s or TASK_SCAN_S), nv, handles)
        total = _safe(lambda: sampler.memory()[0])
        lim = sampler.group.lim
        log.emit("sampler_start", pid=os.getpid(), run_id=run_id, interval_s=interval,
                 nvml=nv is not None, nvml_reason=reason, cores=os.cpu_count(),
                 memory_total_bytes=total, cpu_limit_cores=lim.cpu_cores, memory_limit_bytes=lim.memory_bytes,
                 cgroup=lim.where or None, gpus=[nvml.gpu_name(nv, h) for h in handles])
        cost = own_cost.OwnCost()
        cost_every = float(spec.cost_every_s or COST_EVERY_S)
        orphan_after = float(ORPHAN_AFTER_S if spec.orphan_after_s is None else spec.orphan_after_s)
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


class _TaskProcesses:
    """The run's task processes on this host. A process is ours when its environment (as
    /proc shows it: the block it was exec'd with) carries HARNESS_RUN_ID equal to ours and
    either HARNESS_TASK of this configuration and not a sampler (children inherit it, so a
    task's process tree is included) or, for a child of the run's warm zygote
    (harness/worker/warm.py), whose exec-time environment is the zygote's, the working
    directory of a task of this configuration: the child moves into its task's directory,
    a sibling of ours; the zygote itself stays in its own and is not a task.

    The process table is looked at every sample (new pids only; scan_s > 0 spaces the looks
    out), so a task is seen from the first sample after it started. CPU % is the change of a
    process's user + system time over the sample's interval. A process found by this look
    that started within the interval has all its CPU time in it; one that started before
    (missed by an earlier look) has no reading yet: it is counted in `unmeasured` and the
    sample's cpu_percent is null, never a silent 0. A process that is gone is dropped."""

    def __init__(self, run_id: str, scan_s: float, config: str | None = None, home: str | None = None) -> None:
        self._run_id = run_id
        # Configurations running in parallel may share a machine (sandbox hosts share one
        # process table): count only this configuration's tasks.
        if config is None and "/" in os.environ.get("HARNESS_TASK", ""):
            config = os.environ["HARNESS_TASK"].rsplit("/", 1)[0]   # ours: "<config>/sampler"
        self._config = config + "/" if config else ""
        self._home = home if home is not None else _safe(lambda: os.path.dirname(os.getcwd()))
        self._needle = f"HARNESS_RUN_ID={run_id}".encode()
        self._scan_s = scan_s
        self._next_scan = 0.0
        self._procs: dict[int, list] = {}  # pid -> [psutil.Process, cpu seconds, t_mono]
        self._queue = run_queue.RunQueue()   # its threads' time on and waiting for a CPU
        self._pending: set[int] = set()    # not ours at their first look: look once more
        self._settled: set[int] = set()    # not ours at two looks a scan apart
        self._last_boot = _safe(_boot_s)   # when the previous reading was taken (CLOCK_BOOTTIME)
        self._last_mono = time.monotonic()

    def _maybe_ours(self, pid: int) -> bool:
        """A cheap first look at the raw environment block (where /proc exists): most
        processes on a busy host are not ours, and psutil parses every block in Python
        and reads each process's stat to build its Process (measured: 97 % of the
        sampler's CPU on a loaded host before this filter)."""
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                return self._needle in fh.read()
        except FileNotFoundError:
            return not os.path.isdir("/proc")  # no /proc (not Linux): let psutil decide
        except OSError:
            return False

    def _is_task(self, p: psutil.Process) -> bool:
        env = p.environ()
        if env.get("HARNESS_RUN_ID") != self._run_id:
            return False
        if env.get(WARM_ZYGOTE_ENV) == "1":   # the zygote or one of its children
            return bool(self._home) and os.path.dirname(p.cwd()) == self._home
        task = env.get("HARNESS_TASK", "")
        return not task.endswith("/sampler") and (not task or task.startswith(self._config))

    def _scan(self) -> None:
        pids = set(psutil.pids())
        self._settled &= pids  # forget ended pids, so a reused pid is judged afresh
        # A pid caught between fork and exec (or a warm child before it moved into its task's
        # directory) still looks like its parent, so one negative look is not final; a
        # second one a scan later is.
        recheck, self._pending = self._pending & pids, set()
        for pid in pids - self._settled - self._procs.keys():
            try:
                ours = bool(self._run_id) and self._maybe_ours(pid)
                p = psutil.Process(pid) if ours else None
                ours = ours and self._is_task(p)
                if ours:
                    # Started since the previous reading: all its CPU time is this interval's.
                    born = _started_boot_s(pid)
                    fresh = born is not None and self._last_boot is not None and born >= self._last_boot - 0.02
                    # [process, CPU seconds at the baseline (None: take it at the next read), its time]
                    # (a kept warm child, older: its CPU on entering its task, if that was since then)
                    base = 0.0 if fresh else warm_cpu.entered(pid, p.cwd(), self._last_boot)
                    self._procs[pid] = [p, base, self._last_mono]
                    self._queue.add(pid, born)
            except (psutil.Error, OSError):  # ended meanwhile, a zombie, another user's
                ours = False
            if not ours:
                if pid in recheck:
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
        unmeasured = 0
        for pid, e in list(self._procs.items()):
            p = e[0]
            try:
                with p.oneshot():
                    if p.status() == psutil.STATUS_ZOMBIE:
                        raise psutil.ZombieProcess(pid)
                    t = p.cpu_times()
                    rss += p.memory_info().rss
            except (psutil.Error, OSError):  # gone or a zombie: its CPU is all counted
                del self._procs[pid]
                self._queue.drop(pid)
                continue
            busy = t.user + t.system
            t_now = time.monotonic()
            if e[1] is None:   # found late: its baseline starts now
                e[1], e[2] = busy, t_now
                unmeasured += 1
                continue
            if t_now > e[2]:
                cpu += 100.0 * (busy - e[1]) / (t_now - e[2])
            e[1], e[2] = busy, t_now
        self._last_mono = time.monotonic()
        self._last_boot = _safe(_boot_s)
        return {"cpu_percent": None if unmeasured else round(cpu, 1), "rss_bytes": rss,
                "processes": len(self._procs), "unmeasured": unmeasured, "pids": sorted(self._procs),
                **(self._queue.read(self._last_mono) or {})}


def _boot_s() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _started_boot_s(pid: int) -> float | None:
    """When process `pid` started, in CLOCK_BOOTTIME seconds (the kernel's clock ticks)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19]) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


class _Sampler:
    def __init__(self, run_id: str, task_scan_s: float, nv: Any | None, handles: list) -> None:
        self.count = 0
        self._tasks_seen: float | None = None
        self._nv, self._handles = nv, handles
        self._is_disk: dict[str, bool] = {}
        self._tasks = _TaskProcesses(run_id, task_scan_s)
        # A CPU quota or memory limit on the host's group (a container): its own figures too.
        self.group = cgroup_limits.GroupReader(_safe(cgroup_limits.find) or cgroup_limits.Limits())
        # Baselines: CPU % and the rates of the first sample are measured from here.
        _safe(self._tasks.read)
        self._cpu = _safe(self._cpu_ticks)
        self._net = _safe(self._net_bytes)
        self._disk = _safe(self._disk_bytes)
        self._vm = _safe(_vmstat)
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
        vm, self._vm = self._vm, _safe(_vmstat)
        per_core = _safe(lambda: [_busy_percent(cpu[1][i], t) for i, t in enumerate(self._cpu[1])])
        mem = _safe(self.memory) or (None, None)
        rec = {
            "dt_s": dt,
            "late_s": now - due,  # wake-up delay past the tick: large when the host is saturated
            "cpu_percent": _safe(lambda: _busy_percent(cpu[0], self._cpu[0])),
            "cpu_iowait_percent": _safe(lambda: _share_percent(cpu[0], self._cpu[0], 2)),
            "cpu_percent_per_core": per_core,
            "load1": _safe(lambda: psutil.getloadavg()[0]),
            "mem_used_bytes": mem[0] - mem[1] if None not in mem else None,  # as `free` and psutil
            "mem_available_bytes": mem[1],
            "mem_swap_in_bytes_per_s": _rate(vm, self._vm, 0, dt),   # thrashing: pages read back from swap
            "mem_major_faults_per_s": _rate(vm, self._vm, 1, dt),    # page faults that had to read a disk
            "net_sent_bytes_per_s": _rate(net, self._net, 0, dt),
            "net_recv_bytes_per_s": _rate(net, self._net, 1, dt),
            "disk_read_bytes_per_s": _rate(disk, self._disk, 0, dt),
            "disk_write_bytes_per_s": _rate(disk, self._disk, 1, dt),
            "tasks": _safe(self._tasks.read) or {"cpu_percent": None, "rss_bytes": None, "processes": None,
                                                 "unmeasured": None, "pids": None},
        }
        rec.update(_safe(lambda: self.group.read(dt)) or {})
        if rec["tasks"]["processes"]:
            self._tasks_seen = now
        if self._nv is not None:
            rec["gpus"] = _safe(lambda: nvml.gpu_readings(self._nv, self._handles))
        self.count += 1
        return rec

    @staticmethod
    def _cpu_ticks() -> tuple[tuple[float, float, float], list[tuple[float, float, float]]]:
        """((all, not busy, I/O wait) seconds of the host, [the same per core]); guest time is
        already inside user time, so it is not added again. Not busy = idle + I/O wait: a
        core waiting for a disk runs nothing; its I/O wait is reported on its own."""
        def triple(t) -> tuple[float, float, float]:
            busy_fields = ("user", "nice", "system", "irq", "softirq", "steal")
            iowait = getattr(t, "iowait", 0.0)
            idle = t.idle + iowait
            return sum(getattr(t, f, 0.0) for f in busy_fields) + idle, idle, iowait
        cores = [triple(t) for t in psutil.cpu_times(percpu=True)]  # one read of /proc/stat
        return (sum(c[0] for c in cores), sum(c[1] for c in cores), sum(c[2] for c in cores)), cores

    @staticmethod
    def memory() -> tuple[int | None, int | None]:
        """(total, available) in bytes."""
        vm = psutil.virtual_memory()
        return vm.total, vm.available

    @staticmethod
    def _net_bytes() -> tuple[int, int]:
        """(sent, received) over every interface but loopback: the figure is traffic to
        other hosts, and loopback would count each local byte as sent and as received.
        (nowrap off: 64-bit kernel counters do not wrap; a reset is clamped in _rate.)"""
        sent = recv = 0
        for name, c in psutil.net_io_counters(pernic=True, nowrap=False).items():
            if name != "lo":
                sent += c.bytes_sent
                recv += c.bytes_recv
        return sent, recv

    def _disk_bytes(self) -> tuple[int, int] | None:
        """(read, written) bytes over physical disks only: partitions, LVM/md and loop
        devices would count the same bytes again."""
        rd = wr = 0
        found = False
        for name, c in (psutil.disk_io_counters(perdisk=True, nowrap=False) or {}).items():
            if name not in self._is_disk:
                self._is_disk[name] = os.path.exists("/sys/block/" + name.replace("/", "!") + "/device")
            if self._is_disk[name]:
                found = True
                rd += c.read_bytes
                wr += c.write_bytes
        return (rd, wr) if found else None


def _vmstat() -> tuple[int, int] | None:
    """(bytes swapped in, major page faults) since boot, from /proc/vmstat (Linux)."""
    with open("/proc/vmstat", "rb") as fh:
        text = b"\n" + fh.read()

    def field(name: bytes) -> int:
        at = text.index(b"\n" + name + b" ") + len(name) + 2
        return int(text[at:text.index(b"\n", at)])
    return field(b"pswpin") * PAGE_BYTES, field(b"pgmajfault")


def _share_percent(prev: tuple | None, cur: tuple, i: int) -> float | None:
    """Field i's share of all CPU time between two readings, in %."""
    if prev is None:
        return None
    total = cur[0] - prev[0]
    return round(100.0 * (cur[i] - prev[i]) / total, 1) if total > 0 else 0.0


def _busy_percent(prev: tuple | None, cur: tuple) -> float | None:
    if prev is None:
        return None
    total = cur[0] - prev[0]
    return round(100.0 * (total - (cur[1] - prev[1])) / total, 1) if total > 0 else 0.0


def _rate(prev: tuple | None, cur: tuple | None, i: int, dt: float) -> float | None:
    if prev is None or cur is None or dt <= 0:
        return None
    return max(cur[i] - prev[i], 0) / dt  # a counter reset (interface re-created) is not traffic
