"""`harness check`: in parallel on every host, is it ready to run the experiment?

Connect, run the probe (harness/worker/probe.py) with the host's Python, and turn the
answers into one row per host with its problems. PURE apart from `probe_hosts`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.transport import shell
from harness.config.inventory import Host
from harness.preflight.horovod_patch import VERSION as HOROVOD_KERAS_BUILD
from harness.protocol.constants import DEFAULT_WORKDIR
from harness import strategies as registry

PROBE = Path(__file__).resolve().parents[1] / "worker" / "probe.py"
MIN_FREE_DISK = 2 * 1024**3
MAX_CLOCK_OFFSET_S = 1.0


@dataclass
class HostCheck:
    host: str
    ok_connect: bool
    facts: dict = field(default_factory=dict)
    clock_offset_s: float | None = None
    clock_uncertainty_s: float | None = None
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def probe_command(host: Host, ports: list[int]) -> str:
    python = host.interpreter
    args = json.dumps({"workdir": host.workdir or DEFAULT_WORKDIR, "ports": ports,
                       "packages": list(registry.all_packages())})
    return f"HARNESS_PROBE_ARGS={shell.q(args)} {shell.q(python)} -"


def probe_hosts(hosts: list[Host], transports: dict, ports: dict[str, list[int]] | None = None) -> dict[str, HostCheck]:
    from harness.transport.fanout import fan_out

    source = PROBE.read_bytes()

    def one(h: Host) -> HostCheck:
        t0 = time.time()
        res = transports[h.name].exec(probe_command(h, (ports or {}).get(h.name, [])), timeout=60, stdin=source)
        t1 = time.time()
        return interpret(h.name, res.returncode, res.stdout, res.stderr, t0, t1)

    out = {}
    for name, o in fan_out({h.name: h for h in hosts}, one).items():
        out[name] = o.value if o.error is None else HostCheck(name, False, blockers=[str(o.error)])
    return out


def interpret(name: str, rc: int, stdout: str, stderr: str, t0: float, t1: float) -> HostCheck:
    """PURE: one host's probe answer → facts, clock offset, problems of that host alone."""
    c = HostCheck(name, True)
    if rc != 0:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        c.blockers.append(f"probe failed with exit {rc}: {tail} (is the inventory's python right?)")
        return c
    try:
        c.facts = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        c.blockers.append("probe printed no JSON; check the host's python")
        return c
    # Offset of the host clock against ours, midpoint method; uncertainty is half the round trip.
    c.clock_offset_s = c.facts["time"] - (t0 + t1) / 2
    c.clock_uncertainty_s = (t1 - t0) / 2
    pk = c.facts.get("packages", {})
    if not (pk.get("tensorflow") or pk.get("tensorflow-cpu")):
        c.blockers.append("TensorFlow is not installed for this python (pip install 'tensorflow==2.17.1')")
    if not pk.get("tf-keras"):
        c.blockers.append("tf-keras is not installed (pip install 'tf-keras==2.17.0')")
    free = c.facts.get("free_disk_bytes")
    if free is not None and free < MIN_FREE_DISK:
        c.blockers.append(f"only {free / 1024**3:.1f} GiB free at {c.facts.get('workdir')}; need {MIN_FREE_DISK / 1024**3:.0f} GiB")
    if abs(c.clock_offset_s) > MAX_CLOCK_OFFSET_S + c.clock_uncertainty_s:
        c.warnings.append(f"clock is {c.clock_offset_s:+.2f} s off the control side's; start-up figures "
                          "across hosts will be skewed (enable NTP/chrony)")
    busy = [p for p, free in c.facts.get("ports", {}).items() if not free]
    if busy:
        c.blockers.append(f"ports in use: {', '.join(busy)}")
    return c


def cross_host_problems(checks: dict[str, HostCheck], strategies: set[str]) -> None:
    """Problems only visible across hosts: framework versions that differ break
    distributed training (and make single-host numbers incomparable)."""
    ok = [c for c in checks.values() if c.facts]
    used = [s for n in strategies if (s := registry.lookup(n)) is not None]
    distributed = any(s.distributed for s in used)
    for pkg in ("tensorflow", "tf-keras", *registry.all_packages()):
        seen = {c.facts["packages"].get(pkg) or c.facts["packages"].get(f"{pkg}-cpu") for c in ok}
        seen.discard(None)
        if len(seen) > 1:
            versions = ", ".join(f"{c.host}={c.facts['packages'].get(pkg)}" for c in ok)
            for c in ok:
                (c.blockers if distributed else c.warnings).append(
                    f"{pkg} versions differ across hosts ({versions})")
    for pkg in dict.fromkeys(p for s in used for p in s.packages):
        for c in ok:
            have = c.facts["packages"].get(pkg)
            if not have:
                c.blockers.append(f"{pkg} is not installed, but a configuration uses it")
            elif pkg == "horovod" and have != HOROVOD_KERAS_BUILD:   # low-level API works; Keras callbacks may not
                c.warnings.append(f"horovod {have} is not the build `harness hosts setup --with horovod` makes "
                                  f"({HOROVOD_KERAS_BUILD}): under TensorFlow 2.17 horovod.tensorflow.keras's "
                                  f"callbacks fail with Keras 3's backend")


def render_table(checks: dict[str, HostCheck], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    import sys

    # Off a terminal (logs, CI) rich would squeeze the table into 80 columns.
    console = console or (Console() if sys.stdout.isatty() else Console(width=200))
    t = Table(title="harness check")
    packages = registry.all_packages()   # the strategies' own (horovod)
    for col in ("host", "python", "tensorflow", "tf-keras", *packages, "CPUs", "memory GiB", "GPUs",
                "free disk GiB", "clock offset s", "problems"):
        t.add_column(col)
    for name, c in checks.items():
        f, pk = c.facts, c.facts.get("packages", {})
        problems = [f"[red]{p}[/]" for p in c.blockers] + [f"[yellow]{w}[/]" for w in c.warnings]
        t.add_row(name, f.get("python", ""), pk.get("tensorflow") or pk.get("tensorflow-cpu") or "",
                  pk.get("tf-keras") or "", *(pk.get(p) or "" for p in packages), str(f.get("cpus", "")),
                  f"{f['memory_bytes'] / 1024**3:.1f}" if f.get("memory_bytes") else "",
                  ", ".join(f.get("gpus", [])) or "0",
                  f"{f['free_disk_bytes'] / 1024**3:.1f}" if f.get("free_disk_bytes") is not None else "",
                  f"{c.clock_offset_s:+.3f} ± {c.clock_uncertainty_s:.3f}" if c.clock_offset_s is not None else "",
                  "\n".join(problems) or "[green]ok[/]")
    console.print(t)
