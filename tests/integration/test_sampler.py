"""The utilization sampler: the /proc path for real (a real sampler subprocess beside real
task processes), the NVML path with a fake pynvml module put first on the subprocess's
PYTHONPATH (no GPU here), and nvml.gpu_readings in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from statistics import median

import pytest

from harness.protocol.spec import TaskSpec
from harness.worker import nvml
from tests.support.sampler_procs import child as _child, env_for as _env, records as _records
from tests.support.sampler_procs import start_sampler as _start_sampler
from tests.support.sampler_procs import stop as _stop, wait_for as _wait_for

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FIELDS = {
    "event", "t_wall", "t_mono", "config", "task_id", "role", "host", "dt_s", "late_s",
    "cpu_percent", "cpu_iowait_percent", "cpu_percent_per_core", "load1", "mem_used_bytes", "mem_available_bytes",
    "mem_swap_in_bytes_per_s", "mem_major_faults_per_s",
    "net_sent_bytes_per_s", "net_recv_bytes_per_s", "disk_read_bytes_per_s", "disk_write_bytes_per_s", "tasks",
}
COST_FIELDS = {"samples", "cpu_s", "wall_s", "core_fraction", "loop_cpu_s", "loop_wall_s", "loop_core_fraction"}

FAKE_PYNVML = textwrap.dedent('''
    """Fake pynvml for the sampler tests. FAKE_NVML=two (2 GPUs; GPU 1 cannot read power),
    nolib (nvmlInit fails as on a host without the driver) or zero (no devices)."""
    import os
    from types import SimpleNamespace

    MODE = os.environ.get("FAKE_NVML", "two")
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    class NVMLError(Exception):
        pass

    def nvmlInit():
        if MODE == "nolib":
            raise NVMLError("NVML Shared Library Not Found")

    def nvmlShutdown():
        pass

    def nvmlDeviceGetCount():
        return 0 if MODE == "zero" else 2

    def nvmlDeviceGetHandleByIndex(i):
        return ("gpu", i)

    def nvmlDeviceGetName(h):
        return [b"Fake A100", "Fake T4"][h[1]]   # old bindings return bytes

    def nvmlDeviceGetUtilizationRates(h):
        return SimpleNamespace(gpu=40 + h[1], memory=5)

    def nvmlDeviceGetMemoryInfo(h):
        return SimpleNamespace(used=(h[1] + 1) << 30, total=16 << 30, free=0)

    def nvmlDeviceGetPowerUsage(h):
        if h[1] == 1:
            raise NVMLError("Not Supported")
        return 123456   # milliwatts

    def nvmlDeviceGetTemperature(h, sensor):
        assert sensor == NVML_TEMPERATURE_GPU
        return 60 + h[1]

    def nvmlDeviceGetClockInfo(h, clock):
        assert clock == NVML_CLOCK_SM
        return 1410
''')


@pytest.fixture
def run_id() -> str:
    # Unique: other tests kill leftover processes by run id, and a shared id would mix runs.
    return f"test-sampler-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fake_pynvml(tmp_path: Path) -> Path:
    d = tmp_path / "fake_nvml"
    d.mkdir()
    (d / "pynvml.py").write_text(FAKE_PYNVML)
    return d


def test_samples_host_and_run_tasks_on_a_drift_free_schedule(tmp_path, run_id):
    children = [
        _child(run_id, "c/worker-0", "while True: pass"),                       # busy task
        _child(f"other-{run_id}", "c/worker-0", "import time; time.sleep(60)"),  # another run's
    ]
    proc = None
    try:
        proc = _start_sampler(tmp_path, run_id, task_scan_s=0.4, cost_every_s=0.5)
        # Flushed as it goes: records are readable while the sampler still runs.
        samples = _wait_for(lambda: len(s := _records(tmp_path, "sample")) >= 8 and s)
        assert proc.poll() is None

        start = _records(tmp_path, "sampler_start")
        assert len(start) == 1
        assert start[0]["interval_s"] == 0.2 and start[0]["cores"] == os.cpu_count()
        assert start[0]["memory_total_bytes"] > 0 and isinstance(start[0]["nvml"], bool)

        s = samples[-1]
        assert SAMPLE_FIELDS <= set(s) <= SAMPLE_FIELDS | {"gpus"}
        assert 0 <= s["cpu_percent"] <= 100 and len(s["cpu_percent_per_core"]) == os.cpu_count()
        assert 0 < s["mem_used_bytes"] < start[0]["memory_total_bytes"]
        assert s["mem_available_bytes"] > 0 and s["load1"] >= 0
        for k in ("net_sent_bytes_per_s", "net_recv_bytes_per_s", "disk_read_bytes_per_s", "disk_write_bytes_per_s"):
            assert s[k] is None or s[k] >= 0

        # Ticks due at t0 + k*0.2 (a fixed grid, so wake-up delays do not accumulate).
        due = [r["t_mono"] - r["late_s"] for r in samples]
        grid = [(d - due[0]) / 0.2 for d in due]
        assert sum(abs(g - round(g)) < 0.1 for g in grid) >= 0.8 * len(grid), grid
        assert all(r["late_s"] > -0.001 for r in samples)

        # The busy task (only it: not the other run's process, not the sampler itself).
        busy = [r["tasks"] for r in samples[1:]]
        assert all(x["processes"] == 1 and x["rss_bytes"] > 1 << 20 for x in busy)
        # Busy loop: clearly above an idle process (which reads 0) even on a loaded machine,
        # and never above one core (+ tick quantisation: 1 tick = 5 % of 0.2 s).
        assert median(x["cpu_percent"] for x in busy) > 10
        assert all(x["cpu_percent"] <= 115 for x in busy)

        # A task started later is found by the next scan; one that ends is dropped.
        children.append(_child(run_id, "c/worker-1", "import time; time.sleep(60)"))
        _wait_for(lambda: any(r["tasks"]["processes"] == 2 for r in _records(tmp_path, "sample")[-3:]))
        children[0].kill()
        children[0].wait()
        _wait_for(lambda: (r := _records(tmp_path, "sample")[-1])["tasks"]["processes"] == 1
                  and r["tasks"]["cpu_percent"] < 20)

        assert _stop(proc) == 0, proc.stderr.read().decode()
        recs = _records(tmp_path)
        assert recs[-1]["event"] == "sampler_end" and recs[-1]["signal"] == signal.SIGTERM
        assert recs[-1]["reason"] == "signal"
        assert COST_FIELDS <= set(recs[-1]) and recs[-1]["samples"] == len(_records(tmp_path, "sample"))
        costs = _records(tmp_path, "sampler_cost")
        assert costs and COST_FIELDS <= set(costs[0])
        assert 0 < recs[-1]["loop_cpu_s"] <= recs[-1]["cpu_s"] and recs[-1]["loop_wall_s"] < recs[-1]["wall_s"]
        assert recs[-1]["loop_core_fraction"] < 0.05   # generous: a loaded test machine
    finally:
        for c in children:
            c.kill()
            c.wait()
        if proc is not None and proc.poll() is None:
            proc.kill()


def test_sigint_also_ends_with_a_record_and_exit_0(tmp_path, run_id):
    proc = _start_sampler(tmp_path, run_id, interval_s=5)   # asleep for long: must wake at once
    _wait_for(lambda: _records(tmp_path, "sampler_start"))
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=3) == 0
    assert time.monotonic() - t < 1.0
    end = _records(tmp_path)[-1]
    assert end["event"] == "sampler_end" and end["signal"] == signal.SIGINT and end["samples"] == 0


def test_nvml_readings_per_gpu_with_a_failing_field_as_null(tmp_path, run_id, fake_pynvml):
    proc = _start_sampler(tmp_path, run_id, fake_dir=fake_pynvml, fake_mode="two")
    samples = _wait_for(lambda: len(s := _records(tmp_path, "sample")) >= 2 and s)
    assert _stop(proc) == 0, proc.stderr.read().decode()

    start = _records(tmp_path, "sampler_start")[0]
    assert start["nvml"] is True and start["nvml_reason"] is None
    assert start["gpus"] == ["Fake A100", "Fake T4"]
    assert samples[-1]["gpus"] == [
        {"index": 0, "util_percent": 40.0, "mem_used_bytes": 1 << 30, "mem_total_bytes": 16 << 30,
         "power_w": 123.456, "temperature_c": 60, "sm_clock_mhz": 1410},
        {"index": 1, "util_percent": 41.0, "mem_used_bytes": 2 << 30, "mem_total_bytes": 16 << 30,
         "power_w": None, "temperature_c": 61, "sm_clock_mhz": 1410},
    ]


@pytest.mark.parametrize("mode, reason", [("nolib", "NVML Shared Library Not Found"), ("zero", "no GPU")])
def test_no_nvml_or_no_gpu_is_recorded_once(tmp_path, run_id, fake_pynvml, mode, reason):
    proc = _start_sampler(tmp_path, run_id, fake_dir=fake_pynvml, fake_mode=mode)
    _wait_for(lambda: len(_records(tmp_path, "sample")) >= 2)
    assert _stop(proc) == 0, proc.stderr.read().decode()
    recs = _records(tmp_path)
    assert recs[0]["event"] == "sampler_start"
    assert recs[0]["nvml"] is False and reason in recs[0]["nvml_reason"] and recs[0]["gpus"] == []
    assert not any("gpus" in r or "nvml_reason" in r for r in recs[1:])
    assert proc.stderr.read() == b""


def test_exits_by_itself_once_the_runs_tasks_are_long_gone(tmp_path, run_id):
    """The launcher normally stops the sampler; if it died, the sampler must not run forever."""
    task = _child(run_id, "c/worker-0", "import time; time.sleep(60)")
    proc = _start_sampler(tmp_path, run_id, task_scan_s=0.2, orphan_after_s=1.0)
    try:
        _wait_for(lambda: any(r["tasks"]["processes"] == 1 for r in _records(tmp_path, "sample")))
        assert proc.poll() is None
        task.kill()
        task.wait()
        t = time.monotonic()
        assert proc.wait(timeout=5) == 0
        assert 0.8 < time.monotonic() - t < 3
    finally:
        task.kill()
        task.wait()
        if proc.poll() is None:
            proc.kill()
    end = _records(tmp_path)[-1]
    assert end["event"] == "sampler_end" and end["reason"] == "no_tasks" and end["signal"] is None


class _Broken:
    """An NVML module whose every device query raises."""
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __getattr__(self, name):
        def fail(*a):
            raise RuntimeError(name)
        return fail


def test_gpu_readings_guard_every_field():
    assert nvml.gpu_readings(_Broken(), handles=["h0"]) == [
        {"index": 0, "util_percent": None, "mem_used_bytes": None, "mem_total_bytes": None,
         "power_w": None, "temperature_c": None, "sm_clock_mhz": None}]
    assert nvml.gpu_readings(_Broken()) == []      # not even the device count: no GPUs listed
    assert nvml.gpu_name(_Broken(), "h0") is None


def test_sampler_imports_no_tensorflow_and_no_training_code():
    code = ("import sys, harness.worker.sampler; "
            "bad = [m for m in ('tensorflow', 'tf_keras', 'harness.worker.train') if m in sys.modules]; "
            "sys.exit(str(bad) if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.root
def test_under_a_cpu_quota_and_memory_limit_the_groups_own_figures_are_recorded(tmp_path, run_id):
    # As in a container started with --cpus 0.5 and a memory limit: the machine's CPU % would
    # show a saturated quota as a quarter-busy 2-core machine.
    from harness.sandbox import cpu_quota, mem_limit

    if os.geteuid() != 0 or cpu_quota.hierarchy() is None or mem_limit.hierarchy() is None:
        pytest.skip("needs root and cgroup cpu and memory controllers")
    name = f"hsbtest-{run_id}"
    holder = subprocess.Popen(["sleep", "120"])
    cpu_dir = cpu_quota.apply(name, holder.pid, 0.5)
    mem_dir = mem_limit.apply(name, holder.pid, 512 << 20)
    groups = [Path(p) / "cgroup.procs" for p in (cpu_dir, mem_dir, f"/sys/fs/cgroup/cpuacct/{name}")
              if Path(p).is_dir()]

    def join():  # the child enters the groups before it execs
        for g in groups:
            g.write_text(str(os.getpid()))

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], env=_env(run_id, "c/worker-0"),
                            preexec_fn=join)
    proc = None
    try:
        task = TaskSpec(role="sampler", strategy="sampler", experiment="e", run_id=run_id, config="c",
                        task_id="sampler", host="h", events="samples.jsonl", interval_s=0.2)
        (tmp_path / "task.json").write_text(task.to_json())
        proc = subprocess.Popen([sys.executable, "-m", "harness.worker", "--task", "task.json"], cwd=tmp_path,
                                env=_env(run_id, "c/sampler"), preexec_fn=join,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        samples = _wait_for(lambda: len(s := _records(tmp_path, "sample")) >= 6 and s)
        start = _records(tmp_path, "sampler_start")[0]
        assert start["cpu_limit_cores"] == 0.5 and start["memory_limit_bytes"] == 512 << 20
        assert name in start["cgroup"]
        group = [s["cgroup_cpu_percent"] for s in samples[1:]]
        # the busy loop fills the quota: near 100 % of it (the machine reads about 25 %)
        assert median(group) > 80 and all(g <= 130 for g in group), group
        assert all(0 < s["cgroup_mem_used_bytes"] <= 512 << 20 for s in samples)
        assert _stop(proc) == 0, proc.stderr.read().decode()
    finally:
        for p in (busy, holder, proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        cpu_quota.remove(cpu_dir)
        mem_limit.remove(mem_dir)
