"""A hand-made run directory on GPU hosts for the report tests (cost, scaling, diagnoses,
GPU utilization), in the same style as runfixtures.standard_run."""

from __future__ import annotations

from pathlib import Path

from tests.support.runfixtures import WORKLOAD, RunDir

GPU_HOSTS = [
    {"name": "g1", "transport": "ssh", "address": "10.0.0.1", "instance_type": "g4dn.xlarge",
     "gpus": 1, "price_per_hour": None, "spot_price_per_hour": 0.2},
    {"name": "g2", "transport": "ssh", "address": "10.0.0.2", "instance_type": "g4dn.xlarge",
     "gpus": 1, "price_per_hour": None, "spot_price_per_hour": None},
    {"name": "g3", "transport": "ssh", "address": "10.0.0.3", "instance_type": "x9.weird",
     "gpus": 0, "price_per_hour": None, "spot_price_per_hour": None},
]


# Sampler records of the wrong shape (a GPU count, a string core count, non-numbers, a null
# t_wall): what the report must read past without stopping; appended to gpu_run's samples.
DAMAGED_SAMPLER_LINES = (
    '{"event": "sampler_start", "gpus": 5, "cores": "four", "memory_total_bytes": -1}\n'
    '{"event": "sample", "t_wall": 1005.0, "cpu_percent": "high", "gpus": "none", '
    '"tasks": [], "cpu_percent_per_core": [null, "x"], "mem_available_bytes": 1}\n'
    '{"event": "sample", "t_wall": null, "cpu_percent": 99}\n')


def gpu_run(root: Path) -> Path:
    """Three healthy configurations for cost, scaling, diagnoses and the recommendation
    (warm-up 3 steps, log_every 2, 64 images per step record, target val_accuracy 0.5):
      single - 1 worker on g1 (g4dn.xlarge, T4): 4 kept records of 0.64 s -> 100 images/s;
               flops_per_example 1e9; GPU 30-60 % (low); reaches the target at 10 s.
      hvd2   - horovod, w0 on g1 (0.8 s records, 80 images/s), w1 on g2 (1.0 s, 64 images/s):
               a straggler and input-bound (data wait 0.1 and 0.3 s per record);
               reaches the target at 8 s.
      odd    - 1 worker on g3 (instance type x9.weird: no price anywhere; no GPU):
               128 images/s, CPU 96-98 %, available memory 5 % before training; target at 5 s.
    Prices: g1 spot 0.2 from the inventory; g2 spot 0.1578 from prices.json; on-demand
    g4dn.xlarge 0.526 from the catalog."""
    run = RunDir(root, "gpu-run")
    run.resolved(WORKLOAD, [
        {"name": "single", "strategy": "single", "workers": 1, "ps": 0},
        {"name": "hvd2", "strategy": "horovod", "workers": 2, "ps": 0},
        {"name": "odd", "strategy": "single", "workers": 1, "ps": 0},
    ], hosts=GPU_HOSTS)
    run.prices_json({"on_demand": {}, "spot": {"g4dn.xlarge": 0.1578, "c5.xlarge": "cheap"},
                     "source": "test spot history", "as_of": "2026-11-20"})
    run.control("run_start", 999.0, run_id="gpu-run", experiment="exp", harness_version="0.1.0")

    # --- single: t0 = 1000, window [1004.0, 1008.28] ---
    run.control("config_start", 1000.0, config="single", strategy="single", workers=1, ps=0,
                hosts=["g1"], instance_types={"g1": "g4dn.xlarge"})
    t = run.task("single", "w0", "g1").task_json()
    t.startup(1001.0, 2.0, 0.5, 0.5, flops_per_example=1e9)  # phases end at 1004.0
    t.step(1005.0, 2, 1.0, data_wait_s=0.1)                 # warm-up
    t.step(1005.64, 4, 0.64, data_wait_s=0.064)             # warm-up (first 3)
    t.step(1006.28, 6, 0.64, data_wait_s=0.064)
    t.step(1006.92, 8, 0.64, data_wait_s=0.064)
    t.epoch(1007.0, 1, train_loss=1.0, val_loss=1.1, train_accuracy=0.45, val_accuracy=0.4)
    t.step(1007.64, 10, 0.64, data_wait_s=0.064, epoch=2)
    t.step(1008.28, 12, 0.64, data_wait_s=0.064, epoch=2)
    t.epoch(1010.0, 2, train_loss=0.8, val_loss=0.9, train_accuracy=0.65, val_accuracy=0.6)
    t.event("run_end", 1010.5, status="ok", steps=12, images=384, seconds=4.28)
    s = run.sampler("single", "g1").start(1000.05, memory_total_bytes=16e9, gpus=["Tesla T4"])
    s.sample(1001.5, 10.0, gpu_util=[0.0])  # start-up: outside the window
    for ts, cpu, gpu in ((1004.5, 20.0, 30.0), (1005.5, 30.0, 40.0), (1006.5, 40.0, 50.0),
                         (1007.5, 50.0, 60.0)):
        s.sample(ts, cpu, gpu_util=[gpu], mem_used=4e9, mem_available=12e9)
    s.sample(1009.5, 10.0, gpu_util=[0.0])  # evaluation after the last step: outside
    s.end(1010.9, cpu_seconds=0.01, wall_seconds=10.85)
    run.control("task_exit", 1010.6, config="single", task_id="w0", host="g1", returncode=0, state="succeeded")
    run.control("config_end", 1011.0, config="single", status="succeeded", reason="")

    # --- hvd2: t0 = 2000, window [2004.0, 2010.4] ---
    run.control("config_start", 2000.0, config="hvd2", strategy="horovod", workers=2, ps=0,
                hosts=["g1", "g2"], instance_types={"g1": "g4dn.xlarge", "g2": "g4dn.xlarge"})
    a = run.task("hvd2", "w0", "g1", rank=0).task_json()
    a.startup(2001.0, 2.0, 0.5, 0.5)
    a.step(2005.0, 2, 1.0)
    a.step(2005.8, 4, 0.8)
    a.step(2006.6, 6, 0.8, data_wait_s=0.1)
    a.step(2007.4, 8, 0.8, data_wait_s=0.1)
    a.epoch(2008.0, 1, train_loss=1.0, val_loss=1.0, train_accuracy=0.5, val_accuracy=0.55)
    a.step(2009.6, 10, 0.8, data_wait_s=0.1, epoch=2)
    a.step(2010.4, 12, 0.8, data_wait_s=0.1, epoch=2)
    a.epoch(2010.8, 2, train_loss=0.7, val_loss=0.8, train_accuracy=0.7, val_accuracy=0.65)
    a.event("run_end", 2011.0, status="ok", steps=12, images=384, seconds=6.4)
    b = run.task("hvd2", "w1", "g2", rank=1).task_json()
    b.startup(2001.2, 2.0, 0.5, 0.5)
    b.step(2005.2, 2, 1.0)
    b.step(2006.2, 4, 1.0)
    for i, ts in enumerate((2007.2, 2008.2, 2009.2, 2010.2)):
        b.step(ts, 6 + 2 * i, 1.0, data_wait_s=0.3, epoch=1 + i // 2)
    b.event("run_end", 2010.5, status="ok", steps=12, images=384, seconds=6.2)
    for host, util in (("g1", 80.0), ("g2", 65.0)):
        sh = run.sampler("hvd2", host).start(2000.05, memory_total_bytes=16e9, gpus=["Tesla T4"])
        for ts in (2004.5, 2005.5, 2006.5, 2007.5, 2008.5, 2009.5):
            sh.sample(ts, 60.0, gpu_util=[util], net=2e6)
        sh.end(2011.5, cpu_seconds=0.01, wall_seconds=11.4)
    for tid, host in (("w0", "g1"), ("w1", "g2")):
        run.control("task_exit", 2011.2, config="hvd2", task_id=tid, host=host, returncode=0, state="succeeded")
    run.control("config_end", 2012.0, config="hvd2", status="succeeded", reason="")

    # --- odd: t0 = 3000, window [3002.5, 3004.5] ---
    run.control("config_start", 3000.0, config="odd", strategy="single", workers=1, ps=0,
                hosts=["g3"], instance_types={"g3": "x9.weird"})
    o = run.task("odd", "w0", "g3").task_json()
    o.startup(3000.5, 1.0, 0.5, 0.5, flops_per_example=1e9)
    o.step(3003.0, 2, 0.5)
    o.step(3003.5, 4, 0.5)
    o.step(3004.0, 6, 0.5)
    o.step(3004.5, 8, 0.5)
    o.epoch(3005.0, 1, train_loss=0.5, val_loss=0.6, train_accuracy=0.8, val_accuracy=0.7)
    o.event("run_end", 3005.5, status="ok", steps=8, images=256, seconds=2.0)
    so = run.sampler("odd", "g3").start(3000.05, memory_total_bytes=4e9, nvml_reason="NVML library not found")
    so.sample(3002.0, 99.0, mem_used=3.8e9, mem_available=0.2e9)  # loading data: 5 % available
    so.sample(3003.0, 96.0, mem_used=3e9, mem_available=1e9)
    so.sample(3004.0, 98.0, mem_used=3e9, mem_available=1e9)
    so.end(3005.8, cpu_seconds=0.01, wall_seconds=5.75)
    run.control("task_exit", 3005.6, config="odd", task_id="w0", host="g3", returncode=0, state="succeeded")
    run.control("config_end", 3006.0, config="odd", status="succeeded", reason="")
    run.control("run_end", 3006.5, status="succeeded")
    run.write_plan()
    return run.root
