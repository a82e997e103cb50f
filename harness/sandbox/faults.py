"""Faults injected into a running sandbox, one host at a time.

cut        the host's veth goes down: its packets are silently dropped, as when a
           cable is pulled or a security group changes (no RST, no ICMP)
cut-control  only the host's traffic to the control side is dropped (a blackhole route to
           the bridge address in its namespace), as when the laptop that runs the harness
           changes networks; host-to-host traffic is untouched
restore    the veth back up, the control route back, shaping re-applied, sshd restarted if it was killed
slow RATE  a new rate on both ends of the host's veth
kill-tasks every process in the host's namespace except its sshd is killed
kill-sshd  the host's sshd (and its sessions) is killed; tasks keep running
cpu CORES  at most CORES of this machine's CPU for what the host starts from now on
           (a cgroup quota on its sshd: sandbox/cpu_quota.py)
mem SIZE   at most SIZE of memory for what the host starts from now on
           (a memory cgroup on its sshd: sandbox/mem_limit.py)
"""

from __future__ import annotations

import ipaddress

from harness.errors import UsageError
from harness.sandbox import netns, shaping, sshd
from harness.sandbox.state import HostState, SandboxState, save

FAULTS = ("cut", "cut-control", "restore", "slow", "kill-tasks", "kill-sshd", "cpu", "mem")


def _need_netns(state: SandboxState, host: HostState, what: str) -> None:
    if state.mode != "netns" or not host.netns:
        raise UsageError(f"fault {what} needs the network-namespace sandbox (`harness sandbox up` as root); "
                         f"in a --loopback sandbox every host shares this machine's network and processes")


def shape_host(state: SandboxState, host: HostState) -> None:
    """Shaping of both ends of the host's veth, from the recorded rate."""
    for dev, ns in ((host.veth, None), (host.veth_inside, host.netns)):
        shaping.apply(dev, host.rate_bits, netns=ns, delay_ms=state.delay_ms, loss_percent=state.loss_percent)


def cut(state: SandboxState, host: HostState) -> str:
    _need_netns(state, host, "cut")
    netns.set_link(host.veth, up=False)
    host.cut = True
    save(state)
    return f"{host.name}: link cut ({host.veth} down); packets to and from {host.address} are dropped"


def control_address(state: SandboxState) -> str:
    """The control side's address as a sandbox host sees it: the bridge's."""
    return str(netns.gateway(ipaddress.ip_network(state.subnet)))


def cut_control(state: SandboxState, host: HostState) -> str:
    _need_netns(state, host, "cut-control")
    if not host.control_cut:
        netns.set_blackhole(host.netns, control_address(state), True)
        host.control_cut = True
        save(state)
    return (f"{host.name}: traffic to the control side ({control_address(state)}) dropped; "
            f"the other hosts still reach {host.address}")


def restore(state: SandboxState, host: HostState) -> str:
    done = []
    if state.mode == "netns" and host.netns and host.control_cut:
        netns.set_blackhole(host.netns, control_address(state), False)
        host.control_cut = False
        done.append("route to the control side back")
    if state.mode == "netns" and host.netns:
        netns.set_link(host.veth, up=True)
        shape_host(state, host)
        host.cut = False
        done.append(f"link up, {shaping.format_rate(host.rate_bits) if host.rate_bits else 'unshaped'}")
    if not sshd.is_ours(host.sshd_pid, host.sshd_config):
        host.sshd_pid = start_sshd(host)
        done.append(f"sshd restarted (pid {host.sshd_pid})")
        if host.cpu_cores:
            from harness.sandbox import cpu_quota

            host.cgroup = cpu_quota.apply(f"{state.tag}-{host.name}", host.sshd_pid, host.cpu_cores,
                                          host.cpu_period_us or cpu_quota.PERIOD_US)
            done.append(f"cpu quota {host.cpu_cores:g} cores")
        if host.mem_bytes:
            from harness.sandbox import mem_limit

            host.mem_cgroup = mem_limit.apply(f"{state.tag}-{host.name}", host.sshd_pid, host.mem_bytes)
            done.append(f"memory limit {host.mem_bytes >> 20} MiB")
    save(state)
    return f"{host.name}: " + ("; ".join(done) or "nothing to restore")


def start_sshd(host: HostState) -> int:
    from harness.errors import HarnessError

    pid = sshd.spawn(host.dir, host.netns, host.name, host.private)
    if not sshd.wait_ready(host.dir, pid, host.address, host.port):
        raise HarnessError(f"{host.name}: sshd exited at start: {sshd.log_tail(host.dir)}")
    return pid


def slow(state: SandboxState, host: HostState, rate: str) -> str:
    _need_netns(state, host, "slow")
    host.rate_bits = shaping.parse_rate(rate)
    if not host.cut:  # a cut link stays cut; restore applies the new rate
        shape_host(state, host)
    save(state)
    return f"{host.name}: rate {shaping.format_rate(host.rate_bits)} both directions"


def _sshd_group(state: SandboxState, host: HostState, fault: str) -> str:
    """The cgroup name for the host's sshd (a running one: only what it starts inherits)."""
    _need_netns(state, host, fault)
    if not sshd.is_ours(host.sshd_pid, host.sshd_config):
        raise UsageError(f"{host.name}: sshd is not running; `harness sandbox fault {host.name} restore` first")
    return f"{state.tag}-{host.name}"


def cpu(state: SandboxState, host: HostState, cores_text: str, period_ms: str | None = None) -> str:
    from harness.sandbox import cpu_quota

    cores = cpu_quota.parse_cores(cores_text)
    period = cpu_quota.parse_period_ms(period_ms) if period_ms is not None else cpu_quota.PERIOD_US
    host.cgroup = cpu_quota.apply(_sshd_group(state, host, "cpu"), host.sshd_pid, cores, period)
    host.cpu_cores, host.cpu_period_us = cores, period
    save(state)
    return (f"{host.name}: at most {cores:g} cores per {period / 1000:g} ms period for what it starts from now on "
            f"({host.cgroup})")


def mem(state: SandboxState, host: HostState, size_text: str) -> str:
    from harness.sandbox import mem_limit

    limit = mem_limit.parse_bytes(size_text)
    host.mem_cgroup = mem_limit.apply(_sshd_group(state, host, "mem"), host.sshd_pid, limit)
    host.mem_bytes = limit
    save(state)
    return f"{host.name}: at most {limit >> 20} MiB of memory for what it starts from now on ({host.mem_cgroup})"


def task_pids(host: HostState) -> list[int]:
    """Every process in the host's namespace except sshd processes (the listener and
    its per-connection children)."""
    return [p for p in netns.namespace_pids(host.netns) if not sshd.is_sshd(p)]


def kill_tasks(state: SandboxState, host: HostState, grace: float = 2.0) -> str:
    _need_netns(state, host, "kill-tasks")
    pids = task_pids(host)
    killed = sshd.kill_all(pids, grace=grace)
    return f"{host.name}: killed {len(killed)} process(es)" + (f": {' '.join(map(str, killed))}" if killed else "")


def kill_sshd(state: SandboxState, host: HostState) -> str:
    if not sshd.stop(host.sshd_pid, host.sshd_config):
        return f"{host.name}: sshd was not running"
    return f"{host.name}: sshd (pid {host.sshd_pid}) and its sessions killed; `fault {host.name} restore` restarts it"


def inject(state: SandboxState, host_name: str, fault: str, arg: str | None = None,
           period_ms: str | None = None) -> str:
    try:
        host = state.host(host_name)
    except KeyError:
        raise UsageError(f"no sandbox host {host_name!r}; hosts: {', '.join(h.name for h in state.hosts)}") from None
    if period_ms is not None and fault != "cpu":
        raise UsageError(f"--period-ms is for fault cpu, not {fault}")
    if fault == "slow":
        if not arg:
            raise UsageError("fault slow needs a rate, e.g. `harness sandbox fault sb0 slow 10mbit`")
        return slow(state, host, arg)
    if fault == "cpu":
        if not arg:
            raise UsageError("fault cpu needs a number of cores, e.g. `harness sandbox fault sb0 cpu 0.5`")
        return cpu(state, host, arg, period_ms)
    if fault == "mem":
        if not arg:
            raise UsageError("fault mem needs a size, e.g. `harness sandbox fault sb0 mem 300M`")
        return mem(state, host, arg)
    if arg:
        raise UsageError(f"fault {fault} takes no argument (got {arg!r})")
    fn = {"cut": cut, "cut-control": cut_control, "restore": restore, "kill-tasks": kill_tasks, "kill-sshd": kill_sshd}.get(fault)
    if fn is None:
        raise UsageError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")
    return fn(state, host)
