"""`harness sandbox` for real, as root: hosts in network namespaces on a 198.18.x.0/24
bridge, links shaped with tc, faults injected during `harness run`.

One 3-host sandbox (50mbit) is shared by the module. The fault tests check what the
harness does when a host is cut off or loses its sshd; where the harness itself falls
short (see GAPS: both were gaps once and are fixed), the test still checks everything
else, cleans up with the sandbox's own tools, and then fails naming the gap."""

import contextlib
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness import sandbox
from harness.cli.sandbox import main as sandbox_cli
from harness.config import load_inventory
from harness.pipeline import run_experiment
from harness.sandbox import netns, shaping, sshd
from harness.sandbox.state import pid_alive
from harness.transport.ssh import SSHOptions, SSHTransport


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root: network namespaces, a bridge and tc qdiscs (CI runs the suite as root)"
    return netns.netns_unavailable_reason() or sshd.available()


pytestmark = [pytest.mark.slow, pytest.mark.root, pytest.mark.netns,
              pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))]

RATE = "50mbit"
TINY = {
    "name": "tiny",
    "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 32, "epochs": 1,
                 "learning_rate": 0.1, "optimizer": "momentum", "warmup_steps": 2},
    "configurations": [{"name": "one", "strategy": "single", "hosts": ["sb0"], "threads": {"intra_op": 1}}],
    "sample_interval_s": 0.5,
}
GAPS = {
    "cut_hang": ("harness: a run on a cut host did not end within 60 s: a command on it times out after "
                 "connect_timeout, but SFTP (collect) waits on the dead TCP connection until the kernel "
                 "gives up (~15 min); fix: TCP_USER_TIMEOUT on the SSH socket / a dead transport fails fast"),
    "orphan": ("harness: the task on the unreachable host kept running after the run ended (no lease or "
               "watchdog on the host); the sandbox's kill-tasks removed it"),
}


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = sandbox_cli(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandbox")
    d, inv = tmp / "sb", tmp / "sandbox.yaml"
    rc, out, err = cli("up", "--hosts", "3", "--bandwidth", RATE, "--dir", str(d), "--out", str(inv))
    assert rc == 0, err
    st = sandbox.load_state(d)
    st.tmp, st.up_output = tmp, out
    st.opts = SSHOptions(known_hosts=Path(st.files[0]), ssh_config=None, harness_known_hosts=tmp / "hk")
    yield st
    sandbox.down(d)


def _write(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _run_pids(st, run_id: str) -> dict[str, list[int]]:
    """Processes of the run in any sandbox namespace (by the run id in their environment)."""
    marker = f"HARNESS_RUN_ID={run_id}".encode()
    found = {}
    for h in st.hosts:
        for pid in netns.namespace_pids(h.netns):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        found.setdefault(h.name, []).append(pid)
            except OSError:
                pass
    return found


def _host_dir(st, host: str) -> Path:
    return Path(st.host(host).workdir)


def test_up_writes_an_inventory_ssh_can_use_and_hosts_have_their_own_addresses(sb):
    inv = load_inventory(sb.files[1])
    assert [h.name for h in inv.hosts] == ["sb0", "sb1", "sb2"]
    addresses = [h.address for h in inv.hosts]
    assert all(a.startswith(sb.subnet.rsplit(".", 1)[0] + ".") for a in addresses) and sb.subnet.startswith("198.1")
    for h in inv.hosts:
        assert h.port == 22 and h.user == "root" and h.python == sys.executable and h.labels["sandbox"] == "1"
        tr = SSHTransport(h, sb.opts)  # host key checked against the written known_hosts
        try:
            seen = tr.exec("hostname -I; ip -o link show | wc -l").stdout.split()
        finally:
            tr.close()
        assert seen[0] == h.address and len(seen) == 2  # only its own address
        assert int(seen[1]) == 2  # lo and eth0: nothing of the machine's network
    assert f"harness run --hosts {sb.files[1]} --known-hosts {sb.files[0]}" in sb.up_output


def test_shaping_holds_the_rate_both_ways_and_slow_changes_it(sb):
    for src, dst in (("sb0", "sb1"), ("sb1", "sb0")):
        t = sandbox.measure(sb.dir, src, dst, seconds=1.0)
        ratio = t.bits_per_s / shaping.parse_rate(RATE)
        print(f"{src}->{dst} at {RATE}: {t.bits_per_s / 1e6:.1f} Mbit/s ({ratio:.2f} of the link)")
        assert 0.5 <= ratio <= 1.1, (src, dst, t)
    assert cli("fault", "sb2", "slow", "20mbit", "--dir", sb.dir)[0] == 0
    try:
        t = sandbox.measure(sb.dir, "sb0", "sb2", seconds=1.0)
        print(f"sb0->sb2 slowed to 20mbit: {t.bits_per_s / 1e6:.1f} Mbit/s")
        assert 0.5 <= t.bits_per_s / 20e6 <= 1.1, t
        rc, out, _ = cli("status", "--dir", sb.dir)
        row = next(line for line in out.splitlines() if line.startswith("sb2 "))
        assert rc == 0 and "tbf 20Mbit | tbf 20Mbit" in row and "alive" in row and "present" in row
    finally:
        assert cli("fault", "sb2", "slow", RATE, "--dir", sb.dir)[0] == 0


def test_cpu_quota_limits_what_a_host_starts_and_down_removes_it(sb):
    spin = ("python3 -c 'import time\nt=time.time();c=time.process_time()\nwhile time.time()-t<2: pass\n"
            "print(time.process_time()-c)'")
    rc, out, _ = cli("fault", "sb1", "cpu", "0.2", "--dir", sb.dir)
    assert rc == 0 and "at most 0.2 cores" in out
    h = sandbox.load_state(sb.dir).host("sb1")
    assert h.cpu_cores == 0.2 and Path(h.cgroup).is_dir()
    host = next(x for x in load_inventory(sb.files[1]).hosts if x.name == "sb1")
    tr = SSHTransport(host, sb.opts)
    try:
        used = float(tr.exec(spin, timeout=30).stdout.strip())
    finally:
        tr.close()
    print(f"2 s of spinning under a 0.2-core quota used {used:.3f} s of CPU")
    assert 0.2 <= used <= 0.6, used     # 0.4 s expected; unlimited it would use up to 2 s
    # the period is the sandbox's 10 ms unless asked (the search grid was recorded with 100 ms)
    def period_us() -> int:
        g = Path(sandbox.load_state(sb.dir).host("sb1").cgroup)
        f = g / "cpu.cfs_period_us"
        return int(f.read_text()) if f.is_file() else int((g / "cpu.max").read_text().split()[1])

    assert period_us() == 10_000
    rc, out, _ = cli("fault", "sb1", "cpu", "0.2", "--period-ms", "100", "--dir", sb.dir)
    assert rc == 0 and "per 100 ms period" in out and period_us() == 100_000
    assert sandbox.load_state(sb.dir).host("sb1").cpu_period_us == 100_000
    rc, _, err = cli("fault", "sb1", "slow", "10mbit", "--period-ms", "100", "--dir", sb.dir)
    assert rc == 2 and "--period-ms is for fault cpu" in err
    assert cli("fault", "sb1", "cpu", "0.2", "--dir", sb.dir)[0] == 0 and period_us() == 10_000
    # the module's `down` removes the cgroup (test_down_twice… checks nothing of ours is left)


def test_memory_limit_and_the_hosts_own_view_of_its_cgroups(sb):
    from harness.worker import cgroup_limits

    rc, out, _ = cli("fault", "sb1", "mem", "300M", "--dir", sb.dir)
    assert rc == 0 and "at most 300 MiB of memory" in out, out
    h = sandbox.load_state(sb.dir).host("sb1")
    assert h.mem_bytes == 300 << 20 and Path(h.mem_cgroup).is_dir()
    host = next(x for x in load_inventory(sb.files[1]).hosts if x.name == "sb1")
    tr = SSHTransport(host, sb.opts)
    try:
        import shlex
        # inside the host (its own /sys from `ip netns exec`) the cgroup hierarchies are mounted,
        # so a process there finds the limit, as on a real host or in a container
        probe = "from harness.worker import cgroup_limits as c; l = c.find(); print(l.memory_bytes, l.where)"
        root = Path(__file__).resolve().parents[2]
        got = tr.exec(f"cd {shlex.quote(str(root))} && {shlex.quote(sys.executable)} -c {shlex.quote(probe)}",
                      timeout=60).stdout.split()
        # a process that wants more than the limit is killed (no swap here) or paged out
        eat = tr.exec("python3 -c 'b = bytearray(400 << 20); print(len(b))'; echo exit $?", timeout=60)
    finally:
        tr.close()
        # the later tests train on sb1: a limit above this machine's memory reads as none
        cli("fault", "sb1", "mem", "1024G", "--dir", sb.dir)
    assert got[0] == str(300 << 20) and any("memory:" in w for w in got[1:]), got
    swap = Path("/proc/swaps").read_text().count("\n") > 1
    assert eat.stdout.split()[-2:] == ["exit", "137"] or (swap and "exit 0" in eat.stdout), eat
    assert cgroup_limits.find().memory_bytes is None   # this process: not in the host's group


def test_delay_on_a_kernel_without_netem_is_a_clear_error(sb, tmp_path):
    with netns.ScratchNamespace("hsb") as scratch:
        ok, _ = shaping.netem_available("lo", scratch)
    if ok:
        pytest.skip("this kernel has netem: --delay works here, so there is no message to check")
    before = set(netns.namespaces())
    rc, out, err = cli("up", "--hosts", "1", "--delay", "2ms", "--dir", str(tmp_path / "x"),
                       "--out", str(tmp_path / "x.yaml"))
    assert rc == 2 and shaping.NETEM_MISSING in err, err
    assert set(netns.namespaces()) == before and not (tmp_path / "x.yaml").exists()


def test_harness_run_works_with_the_printed_command(sb, tmp_path):
    from harness.cli import main as harness_main

    line = next(line.strip() for line in sb.up_output.splitlines() if line.strip().startswith("harness run "))
    argv = line.split()[1:]
    argv[argv.index("--experiment") + 1] = _write(tmp_path / "tiny.yaml", TINY)
    rc = harness_main([*argv, "--runs-dir", str(tmp_path / "runs"), "--run-id", "tiny"])
    assert rc == 0
    assert "succeeded" in (tmp_path / "runs" / "tiny" / "results.csv").read_text()
    # It trained on the sandbox host, in that host's workdir.
    assert (_host_dir(sb, "sb0") / "runs" / "tiny" / "one" / "worker-0" / "exit_code").read_text().strip() == "0"


def test_hosts_have_their_own_hostnames_that_resolve_to_their_addresses(sb):
    inv = load_inventory(sb.files[1])
    h = inv.hosts[1]
    tr = SSHTransport(h, sb.opts)
    try:
        out = tr.exec("hostname; getent hosts sb0 sb1 sb2 localhost | awk '{print $1}' | tr '\\n' ' '").stdout.split()
    finally:
        tr.close()
    assert out[0] == "sb1" and out[1:4] == [x.address for x in inv.hosts] and out[4] in ("127.0.0.1", "::1")
    assert Path(netns.etc_dir(sb.host("sb1").netns), "hosts").exists()


@pytest.mark.horovod
def test_horovod_gloo_trains_across_two_sandbox_hosts(sb, tmp_path):
    # Gloo's process sets find a rank's address through its hostname: with one hostname
    # for every namespace, ranks would dial 127.0.0.1 and be refused.
    exp = {**TINY, "name": "hvd2",
           "configurations": [{"name": "hvd", "strategy": "horovod", "workers": 2, "hosts": ["sb0", "sb1"],
                               "threads": {"intra_op": 1, "inter_op": 2}}]}
    t0 = time.monotonic()
    res = run_experiment(_write(tmp_path / "hvd.yaml", exp), sb.files[1], runs_root=str(tmp_path / "runs"),
                         run_id="hvd2", ssh_options=sb.opts)
    print(f"horovod 2 ranks on sb0+sb1: {res.status} in {time.monotonic() - t0:.1f} s")
    assert res.status == "succeeded", res.reason
    for host, rank in (("sb0", 0), ("sb1", 1)):
        d = _host_dir(sb, host) / "runs" / "hvd2" / "hvd" / f"worker-{rank}"
        assert (d / "exit_code").read_text().strip() == "0"
        assert '"event": "step"' in (d / "events.jsonl").read_text()


def _fault_mid_run(sb, tmp_path, host: str, inject, unstick) -> tuple[object, float, list[str], str]:
    """Start a long run on `host`, inject the fault once steps appear, and wait up to 60 s
    for the run to end (a poll in flight at the fault waits out TCP_USER_TIMEOUT, 15 s; the
    gap this guards against was ~15 min); if it has not, `unstick` it. Returns (result, seconds from fault
    to end, gaps, run id)."""
    run_id = f"fault-{host}-{os.getpid()}"
    long = {**TINY, "name": "long", "workload": {**TINY["workload"], "epochs": 100000},
            "configurations": [{**TINY["configurations"][0], "hosts": [host]}]}
    exp = _write(tmp_path / "long.yaml", long)
    result, stop = {}, threading.Event()

    def run():
        result["r"] = run_experiment(exp, sb.files[1], runs_root=str(tmp_path / "runs"), run_id=run_id,
                                     ssh_options=sb.opts, stop=stop, grace_s=3, lease_s=LEASE_S,
                                     connection_grace_s=CONNECTION_GRACE_S)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    events = _host_dir(sb, host) / "runs" / run_id / "one" / "worker-0" / "events.jsonl"
    assert netns.wait_for(lambda: events.exists() and '"event": "step"' in events.read_text(), 60), "no steps"
    t0 = time.monotonic()
    inject()
    gaps = []
    th.join(60)
    took = time.monotonic() - t0
    if th.is_alive():
        gaps.append(GAPS["cut_hang"])
        unstick()
        th.join(30)
        if th.is_alive():
            stop.set()
            th.join(30)
    assert not th.is_alive(), "the run did not end even after its connections were reset"
    res = result["r"]
    # The cut-off task's watchdog kills it once its lease is not renewed.
    if not netns.wait_for(lambda: not _run_pids(sb, run_id), LEASE_S + 15):
        gaps.append(GAPS["orphan"])
    return res, took, gaps, run_id


LEASE_S = 8.0
# Short: these faults outlast any blip; tests/e2e/test_blips.py covers outages within the grace.
CONNECTION_GRACE_S = 2.0


def _recover_and_rerun(sb, tmp_path, host: str, run_id: str) -> None:
    rc, out, err = cli("fault", host, "restore", "--dir", sb.dir)
    assert rc == 0, err
    rc, out, err = cli("fault", host, "kill-tasks", "--dir", sb.dir)
    assert rc == 0, err
    assert _run_pids(sb, run_id) == {}
    # Only sshd is left (a session of the dead connection may be exiting meanwhile: skip the gone).
    assert [p for p in netns.namespace_pids(sb.host(host).netns) if not sshd.is_sshd(p) and pid_alive(p)] == []
    tiny = {**TINY, "configurations": [{**TINY["configurations"][0], "hosts": [host]}]}
    res = run_experiment(_write(tmp_path / "tiny.yaml", tiny), sb.files[1], runs_root=str(tmp_path / "runs"),
                         run_id=f"{run_id}-again", ssh_options=sb.opts)
    assert res.status == "succeeded", res.reason


def test_link_cut_mid_run_fails_the_run_then_restore_and_rerun(sb, tmp_path):
    host = "sb1"
    address = sb.host(host).address

    def cut():
        rc, out, err = cli("fault", host, "cut", "--dir", sb.dir)
        assert rc == 0 and "link cut" in out, err
        assert netns.link_state(sb.host(host).veth) == "DOWN"

    def reset_connections():  # what the harness's TCP keepalive should have done: drop the dead socket
        subprocess.run(["ss", "-K", "dst", address], capture_output=True)

    try:
        res, took, gaps, run_id = _fault_mid_run(sb, tmp_path, host, cut, reset_connections)
    finally:
        cli("fault", host, "restore", "--dir", sb.dir)
    print(f"cut: run ended {took:.1f} s after the fault, status {res.status}: {res.reason}")
    assert res.status == "failed" and f"host {host}" in res.reason
    assert (res.run_dir / "report.md").exists() and "failed" in (res.run_dir / "report.md").read_text()
    assert res.leftovers.get(host) == [-1]  # the harness says it could not check that host
    _recover_and_rerun(sb, tmp_path, host, run_id)
    assert gaps == [], "; ".join(gaps)  # each was a gap once and is fixed: a regression fails here


def test_sshd_killed_mid_run_fails_the_run_then_restore_and_rerun(sb, tmp_path):
    host = "sb2"

    def kill_sshd():
        rc, out, err = cli("fault", host, "kill-sshd", "--dir", sb.dir)
        assert rc == 0 and "killed" in out, err

    res, took, gaps, run_id = _fault_mid_run(sb, tmp_path, host, kill_sshd, lambda: None)
    print(f"sshd killed: run ended {took:.1f} s after the fault, status {res.status}: {res.reason}")
    assert took < 30 and res.status == "failed" and f"host {host}" in res.reason
    assert (res.run_dir / "report.md").exists()
    _recover_and_rerun(sb, tmp_path, host, run_id)
    assert gaps == [], "; ".join(gaps)  # each was a gap once and is fixed: a regression fails here


def _ours_left(prefix="hsb", tags=None) -> list[str]:
    objs = netns.namespaces() + netns.links()
    return [o for o in objs if netns.tag_of(o, prefix) and (tags is None or netns.tag_of(o, prefix) in tags)]


def test_down_twice_and_down_after_a_crash_leave_nothing(sb, tmp_path):
    # A sandbox whose state file is lost (a crash, rm -rf of its directory): its objects
    # are stale, and any `down` removes them — but not the live sandbox of this module.
    st = sandbox.up(2, bandwidth="1gbit", out=str(tmp_path / "lost.yaml"), directory=str(tmp_path / "lost"))
    lost_pids = [p for h in st.hosts for p in netns.namespace_pids(h.netns)]
    assert len(_ours_left(tags={st.tag})) == 2 + 2 + 1  # namespaces, veths, bridge
    (tmp_path / "lost" / "state.json").unlink()
    removed = sandbox.down(tmp_path / "nothing-here")
    assert any("stale namespace" in r for r in removed) and any("stale link" in r for r in removed)
    assert _ours_left(tags={st.tag}) == []
    assert not [p for p in lost_pids if os.path.exists(f"/proc/{p}") and sshd.is_sshd(p)]
    assert _ours_left(tags={sb.tag}), "the live sandbox must survive another sandbox's down"

    # A complete sandbox, downed twice.
    d = tmp_path / "twice"
    assert cli("up", "--hosts", "2", "--dir", str(d), "--out", str(tmp_path / "twice.yaml"))[0] == 0
    st = sandbox.load_state(d)
    pids = [p for h in st.hosts for p in netns.namespace_pids(h.netns)]
    rc, out, _ = cli("down", "--dir", str(d))
    assert rc == 0 and "removed bridge" in out and "removed namespace" in out
    assert cli("down", "--dir", str(d))[1].strip() == "nothing to remove"
    assert _ours_left(tags={st.tag}) == [] and not [p for p in pids if os.path.exists(f"/proc/{p}")]
    assert not d.exists() and not (tmp_path / "twice.yaml").exists()
