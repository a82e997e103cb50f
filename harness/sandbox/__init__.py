"""A virtual cluster on this machine to rehearse on: `harness sandbox up|status|down|fault|measure`.

As root: N network namespaces on a bridge in 198.18.0.0/15, each a host with its own
address, running OpenSSH, its link shaped with tc. Without root (`loopback=True`): N sshd
on 127.0.0.1 ports, no shaping. Either way an inventory and a known_hosts file are
written so `harness run` works at once, and everything made is recorded in a state file
so `down` removes it, also after a crash.

    from harness import sandbox
    st = sandbox.up(3, bandwidth="100mbit", out="hosts/sandbox.yaml")
    sandbox.fault(None, "sb1", "cut")
    sandbox.down()
"""

from __future__ import annotations

import fcntl
import getpass
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, UsageError
from harness.sandbox import cpu_quota, faults, mem_limit, netns, shaping, sshd
from harness.sandbox.outputs import _ours, _output_paths, _write_outputs, inventory_dict, run_command
from harness.sandbox.state import (CLAIMS_DIR, PREFIX, HostState, SandboxState, claim, load, new_tag,
                                   pid_alive, release, remove, sandbox_dir, save, stale_claims, state_path,
                                   tag_is_live)

__all__ = ["up", "down", "status", "fault", "measure", "load_state", "SandboxState", "HostState", "UpRequest"]

DEFAULT_BANDWIDTH = "1gbit"
HOST_NAME = "sb{}"
ROOT_HINT = ("`harness sandbox up` makes network namespaces, a bridge and tc qdiscs, which needs root: "
             "run it with sudo, or use --loopback for hosts on 127.0.0.1 ports (no root, no link shaping)")


@dataclass(frozen=True)
class UpRequest:
    hosts: int
    bandwidth: str | None = DEFAULT_BANDWIDTH   # None or "none": unshaped
    delay: str | None = None
    loss: str | None = None
    python: str | None = None
    out: str = "hosts/sandbox.yaml"
    known_hosts: str | None = None              # default: <sandbox dir>/known_hosts
    loopback: bool = False
    directory: str | None = None
    prefix: str = PREFIX
    # Each host in its own mount namespace where /tmp, home folders and the control side's
    # checkout and cwd are empty: nothing of the control side's files is visible there.
    private_dirs: bool = False
    # False: a host's own name is left out of its /etc/hosts (as on hosts whose names no
    # DNS knows), so Horovod's Gloo cannot find its address and `harness check` says so.
    resolve_names: bool = True


def load_state(directory: str | Path | None = None) -> SandboxState:
    d = sandbox_dir(directory)
    st = load(d)
    if st is None:
        raise UsageError(f"no sandbox in {d}; start one with `harness sandbox up --hosts N`")
    return st


# --- up ---

def _validate(req: UpRequest) -> tuple[int | None, float, float]:
    if not 1 <= req.hosts <= netns.MAX_HOSTS:
        raise UsageError(f"--hosts {req.hosts}: a sandbox has 1 to {netns.MAX_HOSTS} hosts")
    shaped = req.bandwidth not in (None, "", "none")
    rate = shaping.parse_rate(req.bandwidth) if shaped else None
    delay, loss = shaping.parse_delay_ms(req.delay), shaping.parse_loss_percent(req.loss)
    if req.loopback:
        asked = [f for f, v in (("--bandwidth", rate), ("--delay", delay), ("--loss", loss)) if v]
        if asked:
            raise UsageError(f"{', '.join(asked)} cannot be used with --loopback: loopback hosts share this "
                             f"machine's one `lo` device, so their links cannot be shaped apart (shaping lo "
                             f"would slow everything else too); run `harness sandbox up` as root instead")
        return None, 0.0, 0.0
    return rate, delay, loss


def up(req: UpRequest | int, **kw) -> SandboxState:
    """Start a sandbox; returns its state (hosts, addresses, files written)."""
    if isinstance(req, int):
        req = UpRequest(hosts=req, **kw)
    rate, delay, loss = _validate(req)
    if not req.loopback:
        if os.geteuid() != 0:
            raise UsageError(ROOT_HINT)
        why = netns.netns_unavailable_reason()
        if why:
            raise UsageError(f"{why}; or use --loopback")
    why = sshd.available()
    if why:
        raise UsageError(why)
    if req.loopback and (req.private_dirs or not req.resolve_names):
        raise UsageError("--private-dirs and --unresolvable-names need the network-namespace sandbox, not --loopback")
    if (delay or loss) and not req.loopback:
        with netns.ScratchNamespace(req.prefix) as scratch:
            ok, detail = shaping.netem_available("lo", scratch)
        if not ok:
            raise UsageError(f"{shaping.NETEM_MISSING} (tc said: {detail})")

    d = sandbox_dir(req.directory)
    existing = load(d)
    if existing is not None:
        what = "is already up" if existing.complete else "was left half-made by an earlier `up`"
        raise UsageError(f"a sandbox ({existing.tag}, {len(existing.hosts)} hosts) {what} in {d}; "
                         f"run `harness sandbox down` first, or pass another --dir")
    files = _output_paths(req, d)
    if os.geteuid() == 0:
        _sweep_stale(req.prefix)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = SandboxState(tag=new_tag(req.prefix), mode="loopback" if req.loopback else "netns", dir=str(d),
                      user=getpass.getuser() if req.loopback else "root",
                      client_key=str(d / "client_ed25519"), python=req.python or sys.executable,
                      rate_bits=rate, delay_ms=delay, loss_percent=loss, files=files)
    try:
        if req.loopback:
            _up_loopback(st, req.hosts)
        else:
            _up_netns(st, req.hosts, req)
        _write_outputs(st, req)
        st.complete = True
        save(st)
        if st.mode == "netns":
            claim(st.tag, state_path(d), creating=False)
    except BaseException:
        _teardown(st)
        raise
    return st


def _up_netns(st: SandboxState, n: int, req: UpRequest | None = None) -> None:
    claim(st.tag, state_path(Path(st.dir)))
    save(st)
    # Two `up`s at once must not pick the same subnet: allocate and take it under a lock.
    with open(CLAIMS_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subnet = netns.allocate_subnet(netns.used_networks())
        st.subnet, st.bridge = str(subnet), netns.bridge_name(st.tag)
        save(st)
        netns.run_all(netns.bridge_commands(st.bridge, subnet))
    for i in range(n):
        ns, outside, _ = netns.names(st.tag, i)
        h = HostState(name=HOST_NAME.format(i), address=str(netns.host_address(subnet, i)), port=22,
                      dir=str(Path(st.dir) / "hosts" / HOST_NAME.format(i)), netns=ns, veth=outside,
                      rate_bits=st.rate_bits)
        st.hosts.append(h)
        save(st)  # recorded before it exists: a crash now still leaves it findable
        netns.run_all(netns.host_commands(st.tag, i, st.bridge, subnet))
        if st.rate_bits or st.delay_ms or st.loss_percent:
            faults.shape_host(st, h)
    # Every host resolves every host's name (its own hostname included) to its address;
    # unless asked not to, to rehearse hosts whose names resolve nowhere.
    resolve = req is None or req.resolve_names
    hosts_file = netns.hosts_text([(h.name, h.address) for h in st.hosts] if resolve else [])
    for h in st.hosts:
        netns.write_hosts_file(h.netns, hosts_file)
    if req is not None and req.private_dirs:
        from harness.sandbox import private_fs

        python = private_fs.python_prefixes(st.python)
        hidden = [*private_fs.control_side_dirs(), *private_fs.checkouts_around(python), st.dir]
        for h in st.hosts:
            h.private = [hidden, [h.dir, *python]]
    _start_sshds(st)


def _up_loopback(st: SandboxState, n: int) -> None:
    for i in range(n):
        st.hosts.append(HostState(name=HOST_NAME.format(i), address="127.0.0.1", port=sshd.free_port(),
                                  dir=str(Path(st.dir) / "hosts" / HOST_NAME.format(i))))
    save(st)
    _start_sshds(st)


def _start_sshds(st: SandboxState) -> None:
    client_pub = sshd.keygen(Path(st.client_key), f"harness-sandbox-{st.tag}")
    for h in st.hosts:
        h.host_key = sshd.prepare(Path(h.dir), h.address, h.port, client_pub)
    for h in st.hosts:  # all at once, then wait: starting is the slow part
        h.sshd_pid = sshd.spawn(Path(h.dir), h.netns, h.name, h.private)
    save(st)
    for h in st.hosts:
        for _ in range(5):
            if sshd.wait_ready(Path(h.dir), h.sshd_pid, h.address, h.port):
                break
            if h.netns or "Address already in use" not in sshd.log_tail(Path(h.dir)):
                raise HarnessError(f"sandbox host {h.name}: sshd exited at start: {sshd.log_tail(Path(h.dir))}")
            h.port = sshd.free_port()  # a loopback port was taken meanwhile: take another
            sshd.rewrite_port(Path(h.dir), h.address, h.port)
            h.sshd_pid = sshd.spawn(Path(h.dir), None)
            save(st)
        else:
            raise HarnessError(f"sandbox host {h.name}: no free port after 5 tries")


# --- down ---

def down(directory: str | Path | None = None, prefix: str = PREFIX) -> list[str]:
    """Remove the sandbox of `directory` and, as root, every stale object named with the
    prefix. Idempotent; returns what was removed (empty when there was nothing)."""
    d = sandbox_dir(directory)
    st = load(d)
    removed = _teardown(st) if st is not None else []
    if os.geteuid() == 0:
        removed += _sweep_stale(prefix)
    return removed


def _teardown(st: SandboxState) -> list[str]:
    """Everything `st` records, in reverse order of creation; missing objects are skipped."""
    removed = []
    for h in st.hosts:
        if sshd.stop(h.sshd_pid, h.sshd_config):
            removed.append(f"sshd {h.name} (pid {h.sshd_pid})")
    if st.mode == "netns" and os.geteuid() == 0:
        existing_ns, existing_links = set(netns.namespaces()), set(netns.links())
        for h in st.hosts:
            killed = sshd.kill_all(netns.namespace_pids(h.netns), grace=1.0) if h.netns in existing_ns else []
            # The veth first: deleting it removes both ends at once, whereas a deleted
            # namespace lets the kernel remove its veth later, in the background.
            if h.veth in existing_links and netns.delete_link(h.veth):
                removed.append(f"veth {h.veth}")
            if h.netns in existing_ns and netns.delete_namespace(h.netns):
                removed.append(f"namespace {h.netns}" + (f" ({len(killed)} process(es) killed)" if killed else ""))
            if h.netns and netns.remove_etc(h.netns):
                removed.append(f"hosts file {netns.etc_dir(h.netns)}")
            if h.cgroup and cpu_quota.remove(h.cgroup):
                removed.append(f"cpu quota {h.cgroup}")
            if h.mem_cgroup and mem_limit.remove(h.mem_cgroup):
                removed.append(f"memory limit {h.mem_cgroup}")
        if st.bridge in existing_links and netns.delete_link(st.bridge):
            removed.append(f"bridge {st.bridge}")
        release(st.tag)
    elif st.mode == "netns":
        raise UsageError(f"the sandbox in {st.dir} has network namespaces; removing them needs root (sudo)")
    for f in st.files:
        p = Path(f)
        if _ours(p, st.tag):
            p.unlink()
            removed.append(f"file {p}")
    d = Path(st.dir)
    for p in [Path(h.dir) for h in st.hosts] + [d / "hosts"]:
        shutil.rmtree(p, ignore_errors=True)
    for p in (Path(st.client_key), Path(st.client_key + ".pub")):
        p.unlink(missing_ok=True)
    remove(d)
    try:
        d.rmdir()  # only if nothing of the user's is left in it
    except OSError:
        pass
    return removed


def _sweep_stale(prefix: str) -> list[str]:
    """Namespaces and links named with the prefix whose sandbox is gone (a crash, a
    deleted state file): their processes are killed, then they are deleted."""
    removed = []
    stale_ns = [ns for ns in netns.namespaces() if (t := netns.tag_of(ns, prefix)) and not tag_is_live(t)]
    for ns in stale_ns:
        killed = sshd.kill_all(netns.namespace_pids(ns), grace=1.0)
        if killed:
            removed.append(f"{len(killed)} process(es) in stale namespace {ns}")
    for link in netns.links():  # links before namespaces: see _teardown
        tag = netns.tag_of(link, prefix)
        if tag and not tag_is_live(tag) and netns.delete_link(link):
            removed.append(f"stale link {link}")
    for ns in stale_ns:
        if netns.delete_namespace(ns):
            removed.append(f"stale namespace {ns}")
    for ns in netns.etc_namespaces():  # /etc/netns/<ns>/hosts of a gone sandbox
        if (t := netns.tag_of(ns, prefix)) and not tag_is_live(t) and netns.remove_etc(ns):
            removed.append(f"stale hosts file {netns.etc_dir(ns)}")
    for ns in netns.namespaces():  # netem probes of an `up` that died mid-probe
        pid = netns.probe_owner(ns, prefix)
        if pid and not pid_alive(pid) and netns.delete_namespace(ns):
            removed.append(f"stale namespace {ns}")
    for tag in stale_claims():
        if tag.startswith(prefix):
            release(tag)
    return removed


# --- status, faults, measure ---

@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    port: int
    sshd_pid: int | None
    sshd_alive: bool
    qdisc: str          # "host→ns | ns→host" qdiscs, or "-" in loopback mode
    link: str           # UP / DOWN (cut) / missing / "-"
    namespace: str      # present / MISSING / "-"


def status(directory: str | Path | None = None) -> tuple[SandboxState, list[HostStatus]]:
    st = load_state(directory)
    rows = []
    root = os.geteuid() == 0
    present = set(netns.namespaces()) if st.mode == "netns" and root else set()
    for h in st.hosts:
        alive = sshd.is_ours(h.sshd_pid, h.sshd_config)
        if st.mode == "netns" and root:
            there = h.netns in present
            qd = (f"{shaping.describe(h.veth)} | {shaping.describe(h.veth_inside, h.netns) if there else '?'}")
            link = netns.link_state(h.veth) or "missing"
            link += " (cut)" if h.cut else ""
            rows.append(HostStatus(h.name, h.address, h.port, h.sshd_pid, alive, qd, link,
                                   "present" if there else "MISSING"))
        else:
            rows.append(HostStatus(h.name, h.address, h.port, h.sshd_pid, alive, "-", "-", "-"))
    return st, rows


def format_status(st: SandboxState, rows: list[HostStatus]) -> str:
    head = (f"sandbox {st.tag} ({st.mode}{', ' + st.subnet if st.subnet else ''}) in {st.dir}"
            + ("" if st.complete else "  [INCOMPLETE: `up` did not finish; run `harness sandbox down`]"))
    table = [("HOST", "ADDRESS", "SSHD", "QDISC (to host | from host)", "LINK", "NAMESPACE")]
    for r in rows:
        table.append((r.name, f"{r.address}:{r.port}", f"{r.sshd_pid} {'alive' if r.sshd_alive else 'DEAD'}",
                      r.qdisc, r.link, r.namespace))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join([head, *lines])


def fault(directory: str | Path | None, host: str, what: str, arg: str | None = None,
          period_ms: str | None = None) -> str:
    st = load_state(directory)
    if st.mode == "netns" and os.geteuid() != 0 and what != "kill-sshd":
        raise UsageError("faults on a network-namespace sandbox need root (sudo)")
    return faults.inject(st, host, what, arg, period_ms)


def measure(directory: str | Path | None, src: str, dst: str, seconds: float = 2.0) -> netns.Throughput:
    st = load_state(directory)
    if st.mode != "netns":
        raise UsageError("measure needs the network-namespace sandbox: loopback hosts have no links of their own")
    try:
        a, b = st.host(src), st.host(dst)
    except KeyError as e:
        raise UsageError(f"no sandbox host {e.args[0]!r}; hosts: {', '.join(h.name for h in st.hosts)}") from None
    return netns.measure_throughput(a.netns, b.netns, b.address, seconds=seconds, python=st.python)
