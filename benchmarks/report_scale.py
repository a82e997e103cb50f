"""How `harness report` and `harness compare` scale with hosts and run length (issue 15).
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/report_scale.py [--sizes 1x10m,4x10m,16x10m,64x10m,1x1h,...]
        [--gpus 0,1,4,8] [--reps 3] [--keep DIR] [--no-compare] [--no-cache-run]

Each size is a synthetic run directory in the project's own schema (docs/events.md): one
configuration `hvd` (Horovod, one training task per host, c5.4xlarge hosts with 16 cores),
a utilization sampler per host writing a `sample` record every second (full-precision rates
as the real sampler writes them, 16 per-core readings), and each training task writing a
`step` record every second throughout (log_every 10 steps of 0.1 s), an `epoch` record every
10 minutes, run_start/phase/run_end around them; control.jsonl, plan.json, resolved.json
and exit codes as `harness run` leaves them. The numbers are pseudo-random with a fixed seed,
so the same size gives the same bytes.

With --gpus, each size is also generated with 1, 4 or 8 GPUs per host: the same hosts and
CPU samples, each `sample` record carrying NVML readings exactly as the sampler writes them
on a GPU host (`gpus`: per GPU index, util_percent, mem_used_bytes, mem_total_bytes,
power_w, temperature_c, sm_clock_mhz; a rare null where a query failed), sampler_start
listing the GPU names, and a declared instance type with that many NVIDIA T4s (g4dn.4xlarge,
g4dn.12xlarge, g4dn.metal). The hosts keep 16 cores and 32 GB, so a GPU row differs from its
CPU row only by the GPU readings (the report's instance check flags the vCPUs and memory
against the declared type; that text costs nothing measurable).

For each size: `python -m harness report RUN` (cold = any cache beside the JSONL deleted
first, and warm = the cache left by the previous rebuild, when the loader keeps one) and
`python -m harness compare RUN RUN`, each --reps times as a fresh process; wall seconds and
the child's peak RSS (ru_maxrss from wait4) are printed as median (min–max). The machine's
load average is printed beside each row because the machine is shared."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]

CORES = 16
T0 = 1_795_320_000.0
WARMUP = 5
LOG_EVERY = 10
STEP_S = 0.1
BATCH = 64
CACHE_SUFFIXES = (".cache", ".cache.npz")  # what the loader may leave beside a JSONL file


def _line(rec: dict) -> str:
    return json.dumps(rec) + "\n"


# GPU hosts: the CPU hosts' samples plus NVML readings (worker/nvml.py gpu_readings), from
# NVIDIA T4s; the declared type has as many GPUs (harness/prices/instance-facts.csv).
GPU_NAME = "Tesla T4"
GPU_MEM_TOTAL = 16_106_127_360  # bytes NVML reports for a T4's 15360 MiB
GPU_TYPES = {0: "c5.4xlarge", 1: "g4dn.4xlarge", 4: "g4dn.12xlarge", 8: "g4dn.metal"}
GPU_NULL_EVERY = 5000  # about one failed power query per this many readings: a null, as the sampler writes it


def instance_type(gpus: int) -> str:
    return GPU_TYPES.get(gpus, "g4dn.metal")


def _gpu_readings(grng: random.Random, gpus: int, state: list[int]) -> list[dict]:
    """One sample's `gpus` field as nvml.gpu_readings writes it: per GPU its index,
    util_percent (float of NVML's integer %), memory used/total (int bytes), power_w (mW /
    1000), temperature_c and sm_clock_mhz (ints); a failed query is null. `state` holds
    each GPU's memory in use, which drifts."""
    out = []
    for i in range(gpus):
        state[i] = min(GPU_MEM_TOTAL - 1, max(0, state[i] + grng.randrange(-4_194_304, 4_456_448)))
        power = grng.randrange(25_000, 70_000) / 1000.0
        out.append({"index": i, "util_percent": float(grng.randrange(60, 101)), "mem_used_bytes": state[i],
                    "mem_total_bytes": GPU_MEM_TOTAL,
                    "power_w": None if grng.randrange(GPU_NULL_EVERY) == 0 else power,
                    "temperature_c": grng.randrange(45, 80), "sm_clock_mhz": 1590 - 15 * grng.randrange(0, 20)})
    return out


def _sampler_lines(rng: random.Random, host: str, t_start: float, n: int, gpus: int = 0,
                   grng: random.Random | None = None) -> list[str]:
    """A sampler's records. The GPU readings draw from their own `grng`, so a GPU host's CPU
    figures are the same numbers as the CPU host's."""
    out = [_line({"event": "sampler_start", "t_wall": t_start, "t_mono": t_start - T0 + 1000.0,
                  "pid": 4242, "run_id": "scale", "interval_s": 1.0, "nvml": bool(gpus),
                  "nvml_reason": None if gpus else "NVML library not found", "cores": CORES,
                  "memory_total_bytes": 32_000_000_000, "gpus": [GPU_NAME] * gpus})]
    gpu_mem = [6_000_000_000 + 100_000_000 * i for i in range(gpus)]
    mono0 = t_start - T0 + 1000.0
    rss = 1_500_000_000
    for k in range(1, n + 1):
        late = rng.uniform(0.0002, 0.004)
        dt = 1.0 + rng.uniform(-0.003, 0.003)
        t = t_start + k + late
        per_core = [round(rng.uniform(40.0, 100.0), 1) for _ in range(CORES)]
        cpu = round(sum(per_core) / CORES, 1)
        used = 6_000_000_000 + rng.randrange(0, 400_000_000)
        rss += rng.randrange(-1_000_000, 1_100_000)
        rec = {
            "event": "sample", "t_wall": t, "t_mono": mono0 + k + late, "dt_s": dt, "late_s": late,
            "cpu_percent": cpu, "cpu_percent_per_core": per_core,
            "load1": round(rng.uniform(8.0, 16.0), 2),
            "mem_used_bytes": used, "mem_available_bytes": 32_000_000_000 - used,
            "net_sent_bytes_per_s": rng.uniform(1e7, 9e8) / dt, "net_recv_bytes_per_s": rng.uniform(1e7, 9e8) / dt,
            "disk_read_bytes_per_s": rng.choice((0.0, rng.uniform(0, 5e6) / dt)),
            "disk_write_bytes_per_s": rng.uniform(0, 2e6) / dt,
            "tasks": {"cpu_percent": round(cpu * CORES * 0.9, 1), "rss_bytes": rss, "processes": 1}}
        if gpus:  # the sampler adds the field last, and only on hosts where NVML works
            rec["gpus"] = _gpu_readings(grng, gpus, gpu_mem)
        out.append(_line(rec))
        if k % 60 == 0:
            out.append(_line({"event": "sampler_cost", "t_wall": t, "t_mono": mono0 + k + late,
                              "samples": k, "cpu_s": 0.0008 * k + 0.4, "wall_s": k + 0.5,
                              "core_fraction": (0.0008 * k + 0.4) / (k + 0.5), "loop_cpu_s": 0.0008 * k,
                              "loop_wall_s": float(k), "loop_core_fraction": 0.0008}))
    t_end = t_start + n + 1.5
    out.append(_line({"event": "sampler_end", "t_wall": t_end, "t_mono": t_end - T0 + 1000.0,
                      "samples": n, "cpu_s": 0.0008 * n + 0.4, "wall_s": n + 1.5,
                      "core_fraction": (0.0008 * n + 0.4) / (n + 1.5), "loop_cpu_s": 0.0008 * n,
                      "loop_wall_s": float(n), "loop_core_fraction": 0.0008, "reason": "signal",
                      "signal": 15}))
    return out


def _task_lines(rng: random.Random, host: str, rank: int, t_start: float, seconds: int,
                gpus: int = 0) -> list[str]:
    base = {"config": "hvd", "task_id": f"worker-{rank}", "role": "worker", "rank": rank, "host": host}

    def rec(event: str, t: float, **fields) -> str:
        return _line({"event": event, "t_wall": t, "t_mono": t - T0 + 500.0, **base, **fields})

    out = [rec("run_start", t_start, pid=5000 + rank, process_start_wall=t_start - 0.2,
               versions={"python": "3.11.2", "numpy": "1.26.4"},
               host_facts={"hostname": host, "cpu_model": "Intel Xeon Platinum 8275CL", "cores_logical": CORES,
                           "cores_physical": CORES // 2, "memory_bytes": 32_000_000_000,
                           "gpus": [GPU_NAME] * gpus},
               threads={"intra_op": 0, "inter_op": 0, "omp": None})]
    t = t_start
    for name, s, extra in (("framework_import", 2.1, {"versions": {"tensorflow": "2.17.1", "tf_keras": "2.17.0"}}),
                           ("distribution_ready", 0.8, {}),
                           ("data_ready", 1.3, {"dataset": "cifar10", "train_examples": 50000,
                                                "val_examples": 10000, "steps_per_epoch": 6000}),
                           ("model_built", 0.9, {"model": "resnet20", "parameters": 272474})):
        t += s
        out.append(rec("phase", t, name=name, seconds=s, **extra))
    steps_per_epoch = 6000
    step = 0
    epoch = 1
    n_records = seconds  # one step record per second: LOG_EVERY steps of ~STEP_S
    for k in range(n_records):
        secs = LOG_EVERY * STEP_S * rng.uniform(0.9, 1.1)
        t += secs
        step += LOG_EVERY
        out.append(rec("step", t, step=step, steps=LOG_EVERY, epoch=epoch, images=LOG_EVERY * BATCH,
                       seconds=secs, data_wait_s=secs * rng.uniform(0.0, 0.05),
                       loss=2.3 * (0.9995 ** k) + rng.uniform(0, 0.05)))
        if step % steps_per_epoch == 0:
            acc = min(0.95, 0.3 + 0.1 * epoch)
            out.append(rec("epoch", t + 0.5, epoch=epoch, steps=steps_per_epoch, images=steps_per_epoch * BATCH,
                           seconds=steps_per_epoch * STEP_S, train_loss=2.0 / epoch, val_loss=2.1 / epoch,
                           train_accuracy=acc, val_accuracy=acc - 0.02))
            t += 0.5
            epoch += 1
    out.append(rec("run_end", t + 0.1, status="ok", steps=step, last_step=step, images=step * BATCH,
                   seconds=t - t_start - 5.1))
    return out


def generate(root: Path, hosts: int, seconds: int, seed: int = 15, host_prefix: str = "h",
             gpus: int = 0) -> Path:
    """A run directory of `hosts` hosts training for about `seconds` s, each host with
    `gpus` GPUs (0: no NVML readings); returns its path. The same arguments give the same
    bytes, and gpus=0 the bytes this function always gave."""
    rng = random.Random(seed * 1000 + hosts * 7 + seconds)
    grng = random.Random(f"gpus:{seed}:{hosts}:{seconds}:{gpus}")  # str seeds hash the same in every process
    root.mkdir(parents=True, exist_ok=True)
    names = [f"{host_prefix}{i:02d}" for i in range(hosts)]
    itype = instance_type(gpus)
    workload = {"model": "resnet20", "dataset": {"name": "cifar10"}, "batch_size": BATCH, "epochs": 99,
                "warmup_steps": WARMUP, "log_every": LOG_EVERY, "target_accuracy": 0.8}
    conf = {"name": "hvd", "strategy": "horovod", "workers": hosts, "ps": 0}
    (root / "resolved.json").write_text(json.dumps({
        "experiment": {"name": "scale", "workload": workload, "configurations": [conf]},
        "inventory": {"hosts": [{"name": h, "address": f"10.0.0.{i + 1}", "instance_type": itype,
                                 "slots": 1} for i, h in enumerate(names)]}}))
    plan_tasks = []
    for i, h in enumerate(names):
        spec = {"config": "hvd", "task_id": f"worker-{i}", "role": "worker", "rank": i, "host": h,
                "workload": workload}
        plan_tasks.append({"config": "hvd", "task_id": f"worker-{i}", "role": "worker", "index": i,
                           "rank": i, "host": h, "env": [], "spec": spec})
    for h in names:
        plan_tasks.append({"config": "hvd", "task_id": "sampler", "role": "sampler", "index": 0, "rank": None,
                           "host": h, "env": [], "spec": {"config": "hvd", "task_id": "sampler",
                                                          "role": "sampler", "rank": None, "host": h,
                                                          "events": "samples.jsonl", "interval_s": 1.0}})
    (root / "plan.json").write_text(json.dumps({"run_id": "scale", "experiment": "scale", "configs": [
        {"name": "hvd", "strategy": "horovod", "hosts": names, "tasks": plan_tasks, "time_limit_s": 7200}]}))

    control = [_line({"event": "run_start", "t_wall": T0 - 10, "t_mono": 10.0, "run_id": root.name,
                      "experiment": "scale", "inventory": "scale", "harness_version": "0.1.0"}),
               _line({"event": "config_start", "t_wall": T0, "t_mono": 20.0, "config": "hvd",
                      "strategy": "horovod", "workers": hosts, "ps": 0, "hosts": names,
                      "instance_types": {h: itype for h in names}})]
    for i, h in enumerate(names):
        control.append(_line({"event": "task_launch", "t_wall": T0 + 0.1, "t_mono": 20.1, "config": "hvd",
                              "task_id": "sampler", "host": h, "role": "sampler", "rank": None}))
        control.append(_line({"event": "task_launch", "t_wall": T0 + 0.2 + 0.001 * i, "t_mono": 20.2,
                              "config": "hvd", "task_id": f"worker-{i}", "host": h, "role": "worker", "rank": i}))
    end = T0 + seconds + 20
    for i, h in enumerate(names):
        tdir = root / "hosts" / h / "hvd" / f"worker-{i}"
        tdir.mkdir(parents=True, exist_ok=True)
        (tdir / "task.json").write_text(json.dumps(plan_tasks[i]["spec"]))
        (tdir / "events.jsonl").write_text("".join(_task_lines(rng, h, i, T0 + 1.0 + 0.01 * i, seconds, gpus)))
        (tdir / "exit_code").write_text("0\n")
        sdir = root / "hosts" / h / "hvd" / "sampler"
        sdir.mkdir(parents=True, exist_ok=True)
        (sdir / "samples.jsonl").write_text("".join(_sampler_lines(rng, h, T0 + 0.15, seconds + 15,
                                                                    gpus, grng)))
        control.append(_line({"event": "task_exit", "t_wall": end - 2, "t_mono": 0.0, "config": "hvd",
                              "task_id": f"worker-{i}", "host": h, "returncode": 0, "state": "succeeded"}))
    for h in names:
        control.append(_line({"event": "task_exit", "t_wall": end - 1, "t_mono": 0.0, "config": "hvd",
                              "task_id": "sampler", "host": h, "returncode": -15, "state": "stopped"}))
    control.append(_line({"event": "config_end", "t_wall": end, "t_mono": 0.0, "config": "hvd",
                          "status": "succeeded", "reason": ""}))
    control.append(_line({"event": "run_end", "t_wall": end + 1, "t_mono": 0.0, "status": "succeeded"}))
    (root / "control.jsonl").write_text("".join(control))
    return root


def jsonl_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.jsonl"))


def drop_cache(root: Path) -> None:
    for suffix in CACHE_SUFFIXES:
        for p in root.rglob(f"*{suffix}"):
            p.unlink()


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh `python -m harness ...` process; its CPU
    seconds (user + system, less sensitive to a loaded machine) go to CPU_SECONDS."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "harness", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"harness {' '.join(argv)} failed ({proc.returncode}): {err.strip()[-500:]}")
    CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
    return wall, usage.ru_maxrss / 1024.0  # Linux: kilobytes


CPU_SECONDS: list[float] = []


def _fmt(xs: list[float], digits: int) -> str:
    return f"{median(xs):.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


def parse_size(text: str) -> tuple[int, int, str]:
    hosts, dur = text.lower().split("x")
    seconds = int(dur[:-1]) * (60 if dur.endswith("m") else 3600)
    return int(hosts), seconds, f"{int(hosts)} × {dur}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1x10m,4x10m,16x10m,64x10m,1x1h,4x1h,16x1h,64x1h")
    ap.add_argument("--gpus", default="0,1,4,8",
                    help="GPUs per host, one row per count for each size (0: CPU hosts)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="generate (or reuse) the runs here instead of a temp dir")
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--no-cache-run", action="store_true", help="skip the warm-cache report runs")
    args = ap.parse_args()
    gpu_counts = [int(g) for g in args.gpus.split(",")]
    base = args.keep or Path(tempfile.mkdtemp(prefix="report-scale-"))
    print(f"# {os.cpu_count()} cores; python {sys.version.split()[0]}; runs in {base}")
    print("| hosts × duration | GPUs per host | JSONL MB | report cold: wall s | peak RSS MB "
          "| report warm: wall s | peak RSS MB | compare (2 runs): wall s | peak RSS MB "
          "| report cold: CPU s | report warm: CPU s | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        hosts, seconds, label = parse_size(size)
        for gpus in gpu_counts:
            root = base / (f"scale-{hosts}x{seconds}s" + (f"-{gpus}gpu" if gpus else ""))
            if not (root / "control.jsonl").is_file():
                generate(root, hosts, seconds, gpus=gpus)
            print("| " + " | ".join([label, str(gpus), *_row(root, args)]) + " |", flush=True)
            if not args.keep:
                shutil.rmtree(root)
    if not args.keep:
        shutil.rmtree(base)


def _row(root: Path, args) -> list[str]:
    """The table's cells after the size and GPU count, for one generated run."""
    cold, warm, cmp_ = [], [], []
    CPU_SECONDS.clear()
    for _ in range(args.reps):
        drop_cache(root)
        cold.append(measure(["report", str(root)]))
    cold_cpu = list(CPU_SECONDS)
    if not args.no_cache_run:
        measure(["report", str(root)])  # leaves the cache, if the loader keeps one
        CPU_SECONDS.clear()
        for _ in range(args.reps):
            warm.append(measure(["report", str(root)]))
        warm_cpu = list(CPU_SECONDS)
    if not args.no_compare:
        for _ in range(args.reps):
            cmp_.append(measure(["compare", str(root), str(root)]))
    cells = [f"{jsonl_bytes(root) / 1e6:.0f}"]
    for xs in (cold, warm, cmp_):
        cells += ([_fmt([w for w, _ in xs], 2), _fmt([r for _, r in xs], 0)] if xs else ["–", "–"])
    cells.append(f"{median(cold_cpu):.2f}")
    cells.append(f"{median(warm_cpu):.2f}" if warm else "–")
    cells.append(" ".join(f"{x:.1f}" for x in os.getloadavg()))
    return cells


if __name__ == "__main__":
    main()
