"""`harness check -e`: what breaks a distributed run between hosts, proved before it starts.

  hostname  Horovod's Gloo resolves each rank's own hostname (gethostname()); where it does
            not resolve, every rank aborts ("Unable to find address for: <name>"), and where
            it resolves to an address of another interface (127.0.1.1) peers dial the wrong one.
  ports     every host of a multi-host configuration reaches every other host's planned
            ports (rendezvous, TF servers): a listener on each, a connect from each peer.
  mpi ssh   `launcher: mpi` runs mpirun on the first host, which starts the other ranks over
            SSH: that host must reach the others with a key and a known host key.

`needs` and `interpret_*` are PURE; `run_network_checks` runs the commands (transports)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from harness.transport import shell
from harness.config.inventory import Host
from harness.strategies.base import PlacementContext

LISTEN_S = 30


@dataclass
class HostNeeds:
    host: str
    address: str                                  # how the other hosts reach it
    resolve: bool = False                         # a Gloo rank runs here: its hostname must resolve
    iface: str | None = None                      # HOROVOD_GLOO_IFACE, when the plan sets one
    listen: set[int] = field(default_factory=set)                               # planned ports here
    connect: set[tuple[str, str, int]] = field(default_factory=set)             # (peer, address, port)
    mpi_ssh: set[tuple[str, str, int | None, str | None]] = field(default_factory=set)  # (peer, addr, port, user)


def needs(plan, hosts: dict[str, Host]) -> dict[str, HostNeeds]:
    """PURE: per host, what the plan's configurations need of the network."""
    out: dict[str, HostNeeds] = {}

    def get(name: str) -> HostNeeds:
        if name not in out:
            out[name] = HostNeeds(name, PlacementContext.address(hosts[name]))
        return out[name]

    for cp in plan.configs:
        tasks = [t for t in cp.tasks if t.role != "sampler"]
        names = list(dict.fromkeys(t.host for t in tasks))
        for t in tasks:
            if t.env.get("HOROVOD_CONTROLLER") == "gloo":
                n = get(t.host)
                n.resolve = True
                n.iface = n.iface or t.env.get("HOROVOD_GLOO_IFACE")
        if len(names) < 2:
            continue
        for t in tasks:
            for port in t.spec.get("ports") or []:
                get(t.host).listen.add(int(port))
                for other in names:
                    if other != t.host:
                        get(other).connect.add((t.host, get(t.host).address, int(port)))
        launcher = next((t for t in tasks if t.role == "launcher"), None)
        if launcher is not None:
            for c in (launcher.spec.get("cluster") or {}).get("contexts", []):
                if c["address"] != "localhost":
                    h = hosts[c["host"]]
                    get(launcher.host).mpi_ssh.add((h.name, c["address"], h.port, h.user))
    return out


def interpret_hostname(facts: dict, need: HostNeeds) -> str | None:
    """PURE: a blocker when the host's own name does not lead Gloo to its interface."""
    if not need.resolve:
        return None
    name = facts.get("hostname") or "?"
    resolved = facts.get("hostname_addresses")
    ifaces: dict[str, list[str]] = facts.get("interfaces") or {}
    fix_line = f"{need.address} {name}"
    fix = (f"add '{fix_line}' to /etc/hosts on {need.host} (echo '{fix_line}' | sudo tee -a /etc/hosts), or give "
           f"the host a name its DNS resolves (on EC2 keep the instance's own ip-… hostname; the VPC needs "
           f"enableDnsSupport and enableDnsHostnames)")
    if not resolved:
        why = facts.get("hostname_error") or "no address"
        return (f"hostname {name!r} does not resolve on {need.host} ({why}): Horovod's Gloo aborts every rank "
                f"with 'Unable to find address for: {name}'; {fix}")
    every = {a for addrs in ifaces.values() for a in addrs}
    if need.iface:
        expected = set(ifaces.get(need.iface) or [])
        where = f"interface {need.iface} ({', '.join(sorted(expected)) or 'no IPv4 address'})"
    elif need.address in every:
        expected, where = {need.address}, f"the address the other hosts use ({need.address})"
    else:  # reached through NAT (a public IP): any address of its own but loopback will do
        expected = {a for a in every if not a.startswith("127.")}
        where = f"a non-loopback interface ({', '.join(sorted(expected))})"
    if not expected or set(resolved) & expected:
        return None
    fix_line = f"{sorted(expected)[0]} {name}"
    return (f"hostname {name!r} resolves to {', '.join(resolved)} on {need.host}, not to {where} its Horovod ranks "
            f"use; peers would dial the wrong address; change the line for {name} in /etc/hosts on {need.host} to "
            f"'{fix_line}'")


LISTEN = r"""
import select, socket, sys, time
socks = []
for p in map(int, sys.argv[2:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", p)); s.listen(64); socks.append(s)
    except OSError:
        pass
print("ready", flush=True)
end = time.time() + float(sys.argv[1])
while socks and time.time() < end:
    for s in select.select(socks, [], [], 0.2)[0]:
        s.accept()[0].close()
"""

CONNECT = r"""
import json, socket, sys
out = []
for peer, addr, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((addr, port), timeout=3).close(); out.append([peer, addr, port, None])
    except OSError as e:
        out.append([peer, addr, port, str(e) or type(e).__name__])
print(json.dumps(out))
"""


def _python(h: Host) -> str:
    return h.python or (sys.executable if h.is_local else "python3")


def listen_command(python: str, ports: list[int], marker: str) -> str:
    """PURE: start a detached listener on `ports` for LISTEN_S seconds, wait until it is
    bound, print its pid."""
    argv = " ".join(shell.q(a) for a in [python, "-c", LISTEN, str(LISTEN_S), *map(str, ports)])
    m = shell.q(marker)
    return (f"(setsid {argv} > {m} 2>&1 < /dev/null & echo $! > {m}.pid); i=0; "
            f"while ! grep -q ready {m} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat {m}.pid")


def ssh_probe_command(targets: list[tuple[str, str, int | None, str | None]]) -> str:
    """PURE: from the mpirun host, a non-interactive ssh to each other host, as mpirun does."""
    parts = []
    for peer, addr, port, user in sorted(targets, key=lambda t: t[0]):
        opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
        if port:
            opts += ["-p", str(port)]
        if user:
            opts += ["-l", user]
        cmd = " ".join(shell.q(a) for a in ["ssh", *opts, addr, "true"])
        parts.append(f"r=$({cmd} 2>&1 < /dev/null); printf '%s\\t%s\\t%s\\n' {shell.q(peer)} $? "
                     f"\"$(printf '%s' \"$r\" | tail -n 1)\"")
    return "; ".join(parts) or "true"


def run_network_checks(hosts: list[Host], transports: dict, need: dict[str, HostNeeds],
                       done: list[str] | None = None) -> dict[str, list[str]]:
    """Ports and mpirun SSH across hosts; {host: blockers}. `done` gets one line per probe
    that passed (for the summary under the table)."""
    done = done if done is not None else []
    from harness.transport.fanout import fan_out

    by_name = {h.name: h for h in hosts if h.name in transports}
    blockers: dict[str, list[str]] = {n: [] for n in by_name}
    marker = f"/tmp/harness-check-listen-{__import__('secrets').token_hex(4)}"
    listeners = {n: sorted(need[n].listen) for n in by_name if n in need and need[n].listen}

    def listen(name):
        res = transports[name].exec(listen_command(_python(by_name[name]), listeners[name], marker), timeout=30)
        return int(res.stdout.split()[-1]) if res.stdout.split() and res.stdout.split()[-1].isdigit() else None

    pids = {n: o.value for n, o in fan_out({n: n for n in listeners}, listen).items() if o.error is None}
    try:
        def connect(name):
            targets = sorted(need[name].connect)
            res = transports[name].exec(" ".join(shell.q(a) for a in [_python(by_name[name]), "-c", CONNECT,
                                                                       json.dumps(targets)]), timeout=60)
            return json.loads(res.stdout.strip().splitlines()[-1]) if res.ok else [[None, None, None, res.stderr]]

        todo = {n: n for n in by_name if n in need and need[n].connect}
        for name, o in fan_out(todo, connect).items():
            if o.error is not None:
                blockers[name].append(f"host-to-host port probe failed: {o.error}")
                continue
            for peer, addr, port, err in o.value:
                if not err:
                    done.append(f"{name} → {peer} {addr}:{port} reached")
                if err:
                    blockers[name].append(
                        f"cannot reach {peer} at {addr}:{port} from {name} ({err}); open TCP {port} between the "
                        f"hosts (security group / firewall), or check the address other hosts use for {peer} "
                        f"(inventory label private_address)")
    finally:
        def stop(name):
            transports[name].exec(f"kill {int(pids[name])} 2>/dev/null; rm -f {shell.q(marker)} "
                                  f"{shell.q(marker + '.pid')}; true", timeout=15)
        fan_out({n: n for n in pids if pids[n]}, stop)

    def ssh(name):
        return transports[name].exec(ssh_probe_command(sorted(need[name].mpi_ssh)), timeout=60).stdout

    for name, o in fan_out({n: n for n in by_name if n in need and need[n].mpi_ssh}, ssh).items():
        for line in (o.value or "").splitlines() if o.error is None else [f"?\t255\t{o.error}"]:
            peer, rc, last = (line.split("\t") + ["", ""])[:3]
            if rc == "0":
                done.append(f"{name} → {peer}: ssh as mpirun does works")
            if rc != "0":
                blockers[name].append(
                    f"launcher mpi: mpirun on {name} cannot ssh to {peer} ({last or 'exit ' + rc}); give {name} a "
                    f"key {peer} accepts (ssh-copy-id) and record {peer}'s host key on {name} (ssh {peer} true once)")
    return blockers
