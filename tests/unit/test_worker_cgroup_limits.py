"""harness/worker/cgroup_limits.py on made-up /proc and /sys trees (v1 and v2); the real
one on a sandbox host with a quota: tests/integration/test_sampler.py."""

from pathlib import Path

import pytest

from harness.worker import cgroup_limits as cl


def _tree(tmp_path: Path, cgroup: str, mounts: list[tuple[str, str, str, str]]) -> Path:
    """mounts: (root, point under tmp_path, fstype, super options)."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    lines = [f"{30 + i} 25 0:{30 + i} {root} {tmp_path / point} rw,relatime shared:9 - {fs} cgroup {opts}"
             for i, (root, point, fs, opts) in enumerate(mounts)]
    (proc / "mountinfo").write_text("\n".join(["22 1 8:1 / / rw - ext4 /dev/vda rw", *lines]) + "\n")
    return proc


def _write(d: Path, **files: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name.replace("__", ".")).write_text(text)


def test_parse_proc_cgroup_v1_and_v2_lines():
    got = cl.parse_proc_cgroup("4:memory:/a\n2:cpu,cpuacct:/b\n1:name=systemd:/\n0::/u\nbad line\n")
    assert got == {"memory": "/a", "cpu": "/b", "cpuacct": "/b", "systemd": "/", "": "/u"}


def test_v1_quota_usage_and_memory_limit(tmp_path):
    proc = _tree(tmp_path, "4:memory:/g\n2:cpuacct:/g\n1:cpu:/g\n",
                 [("/", "cpu", "cgroup", "rw,cpu"), ("/", "cpuacct", "cgroup", "rw,cpuacct"),
                  ("/", "memory", "cgroup", "rw,memory")])
    _write(tmp_path / "cpu", cpu__cfs_quota_us="-1", cpu__cfs_period_us="100000")
    _write(tmp_path / "cpu" / "g", cpu__cfs_quota_us="4000", cpu__cfs_period_us="10000")
    _write(tmp_path / "cpuacct" / "g", cpuacct__usage="3000000000")
    _write(tmp_path / "memory", memory__limit_in_bytes=str(2 ** 63 - 4096))
    _write(tmp_path / "memory" / "g", memory__limit_in_bytes=str(300 << 20), memory__usage_in_bytes=str(100 << 20))
    lim = cl.find(proc, cores=2, memory_total=8 << 30)
    assert (lim.cpu_cores, lim.memory_bytes) == (0.4, 300 << 20)
    assert cl.cpu_used_s(lim) == pytest.approx(3.0) and cl.memory_used_bytes(lim) == 100 << 20
    assert lim.where == "cpu:/g memory:/g"
    r = cl.GroupReader(lim)
    (tmp_path / "cpuacct" / "g" / "cpuacct.usage").write_text("3200000000")   # +0.2 s of CPU in 0.5 s
    assert r.read(0.5) == {"cgroup_cpu_percent": 100.0, "cgroup_mem_used_bytes": 100 << 20}


def test_the_smallest_limit_along_the_path_counts_and_a_root_cpuacct_is_not_the_groups(tmp_path):
    proc = _tree(tmp_path, "2:cpuacct:/\n1:cpu:/a/b\n", [("/", "cpu", "cgroup", "rw,cpu"),
                                                          ("/", "cpuacct", "cgroup", "rw,cpuacct")])
    _write(tmp_path / "cpu" / "a", cpu__cfs_quota_us="50000", cpu__cfs_period_us="100000")
    _write(tmp_path / "cpu" / "a" / "b", cpu__cfs_quota_us="-1", cpu__cfs_period_us="100000")
    _write(tmp_path / "cpuacct", cpuacct__usage="1")
    lim = cl.find(proc, cores=4)
    assert lim.cpu_cores == 0.5 and lim.cpu_usage_file is None   # the machine's usage: not used
    assert cl.GroupReader(lim).read(1.0) == {"cgroup_cpu_percent": None}


def test_v2_cpu_max_and_memory_max(tmp_path):
    proc = _tree(tmp_path, "0::/pod/c\n", [("/", "unified", "cgroup2", "rw,nsdelegate")])
    _write(tmp_path / "unified" / "pod", cpu__max="max 100000", memory__max=str(1 << 30))
    _write(tmp_path / "unified" / "pod" / "c", cpu__max="150000 100000", memory__max="max",
           cpu__stat="usage_usec 2500000\nuser_usec 2000000\n", memory__current="12345")
    lim = cl.find(proc, cores=4, memory_total=16 << 30)
    assert (lim.cpu_cores, lim.memory_bytes) == (1.5, 1 << 30)
    assert cl.cpu_used_s(lim) == pytest.approx(2.5) and cl.memory_used_bytes(lim) == 12345


def test_no_limit_below_the_machine_is_no_limit(tmp_path):
    proc = _tree(tmp_path, "1:cpu:/g\n4:memory:/g\n", [("/", "cpu", "cgroup", "rw,cpu"),
                                                      ("/", "memory", "cgroup", "rw,memory")])
    _write(tmp_path / "cpu" / "g", cpu__cfs_quota_us="400000", cpu__cfs_period_us="100000")   # 4 cores of 2
    _write(tmp_path / "memory" / "g", memory__limit_in_bytes=str(2 ** 63 - 4096), memory__usage_in_bytes="1")
    lim = cl.find(proc, cores=2, memory_total=8 << 30)
    assert lim == cl.Limits(where="") and cl.GroupReader(lim).read(1.0) == {}


def test_nothing_mounted_reads_as_no_limit(tmp_path):
    proc = _tree(tmp_path, "1:cpu:/g\n", [])
    assert cl.find(proc, cores=2).cpu_cores is None
