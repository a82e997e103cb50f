"""Link shaping with `tc`: the only module of the sandbox that runs `tc`.

The builders are PURE (a rate in, argv lists out) so they can be tested without root;
`run` executes them. Commands for the namespace side of a veth use `tc -n NS`, so no
`ip netns exec` is needed here.

Each sandbox host has one veth; shaping both of its ends limits both directions:
egress of the host-side end is what the host receives, egress of the namespace-side end
is what it sends. Traffic between two sandbox hosts crosses one of each, so the rate
between them is the configured rate, and a `--delay D` (where netem exists) is applied
as D/2 per end: one-way host-to-host latency D, round trip 2·D.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from harness.errors import HarnessError, UsageError

NETEM_MISSING = "this kernel has no netem (sch_netem); --delay/--loss are unavailable here"

_UNITS = {  # tc's units: *bit are bits per second, *bps are BYTES per second (SI multiples)
    "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
    "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.I)
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s)?\s*$", re.I)
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")

MIN_RATE_BITS = 8_000            # below this tbf's buffer maths stop making sense
MIN_BURST_BYTES = 32 * 1024      # must exceed one (GSO-segmented) packet
QUEUE_LATENCY_MS = 50            # how long a packet may wait in the shaper's queue


def parse_rate(text: str) -> int:
    """'100mbit' -> 100_000_000 bits per second. Units as tc spells them; a bare number is bit/s."""
    m = _RATE.match(str(text))
    unit = (m.group(2).lower() or "bit") if m else ""
    if not m or unit not in _UNITS:
        raise UsageError(f"rate {text!r}: expected a number with a tc unit, e.g. 100mbit, 1gbit, 10gbit "
                         f"(units: {', '.join(_UNITS)}; *bps means bytes per second)")
    bits = int(float(m.group(1)) * _UNITS[unit])
    if bits < MIN_RATE_BITS:
        raise UsageError(f"rate {text!r} is below {MIN_RATE_BITS} bit/s; use at least 8kbit")
    return bits


def format_rate(bits: int) -> str:
    """The shortest exact tc spelling: 100000000 -> '100mbit'."""
    for unit, mult in (("tbit", 10**12), ("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits % mult == 0:
            return f"{bits // mult}{unit}"
    return f"{bits}bit"


def parse_delay_ms(text: str | None) -> float:
    """'2ms' -> 2.0; '' / None / '0' -> 0.0 (no delay asked)."""
    if text in (None, ""):
        return 0.0
    m = _TIME.match(str(text))
    if not m:
        raise UsageError(f"delay {text!r}: expected a time such as 2ms, 500us or 0.1s")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[(m.group(2) or "ms").lower()]


def parse_loss_percent(text: str | None) -> float:
    """'0.5%' -> 0.5; '' / None / '0%' -> 0.0."""
    if text in (None, ""):
        return 0.0
    m = _PERCENT.match(str(text))
    if not m or float(m.group(1)) > 100:
        raise UsageError(f"loss {text!r}: expected a percentage between 0% and 100%, e.g. 0.1%")
    return float(m.group(1))


def _prefix(netns: str | None) -> list[str]:
    return ["tc", "-n", netns] if netns else ["tc"]


def tbf_params(rate_bits: int) -> list[str]:
    """tbf's rate, burst and queue size for a rate. The bucket holds ~2 ms of traffic (at
    least MIN_BURST_BYTES, so a full segment always fits): big enough that timer
    granularity does not cap 10gbit links, small enough that a 2-second measurement
    at 50mbit is not inflated by the initial burst."""
    burst = max(MIN_BURST_BYTES, int(rate_bits / 8 * 0.002))
    return ["rate", format_rate(rate_bits), "burst", str(burst), "latency", f"{QUEUE_LATENCY_MS}ms"]


def shape_commands(dev: str, rate_bits: int | None, *, netns: str | None = None,
                   delay_ms: float = 0.0, loss_percent: float = 0.0) -> list[list[str]]:
    """Commands that (re)set the egress qdisc of `dev`: tbf at the rate, with a netem child
    for delay/loss when asked. `replace` makes them idempotent; with no rate and no
    netem the device goes back to its default qdisc."""
    cmds = [_prefix(netns) + ["qdisc", "del", "dev", dev, "root"]]  # may fail: nothing to delete
    netem = netem_params(delay_ms, loss_percent)
    if rate_bits:
        cmds.append(_prefix(netns) + ["qdisc", "replace", "dev", dev, "root", "handle", "1:", "tbf",
                                      *tbf_params(rate_bits)])
        if netem:
            cmds.append(_prefix(netns) + ["qdisc", "replace", "dev", dev, "parent", "1:1", "handle", "10:",
                                          "netem", *netem])
    elif netem:
        cmds.append(_prefix(netns) + ["qdisc", "replace", "dev", dev, "root", "handle", "1:", "netem", *netem])
    return cmds


def netem_params(delay_ms: float, loss_percent: float) -> list[str]:
    """netem arguments for ONE end of a veth: half the one-way delay (see the module doc);
    loss is split so that a packet crossing both ends is lost with the asked probability."""
    out = []
    if delay_ms > 0:
        out += ["delay", f"{delay_ms / 2:g}ms"]
    if loss_percent > 0:
        per_end = 1 - (1 - loss_percent / 100) ** 0.5
        out += ["loss", f"{per_end * 100:.4g}%"]
    return out


def netem_probe_command(dev: str, netns: str) -> list[str]:
    return _prefix(netns) + ["qdisc", "add", "dev", dev, "root", "netem", "delay", "1ms"]


def show_command(dev: str, netns: str | None = None) -> list[str]:
    return _prefix(netns) + ["qdisc", "show", "dev", dev]


# --- running ---

@dataclass(frozen=True)
class TcResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(argv: list[str], *, check: bool = True) -> TcResult:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise HarnessError("`tc` is not installed; apt-get install -y iproute2") from None
    r = TcResult(argv, p.returncode, p.stdout, p.stderr)
    if check and p.returncode != 0:
        raise HarnessError(f"{' '.join(argv)}: {p.stderr.strip() or 'exit ' + str(p.returncode)}")
    return r


def apply(dev: str, rate_bits: int | None, *, netns: str | None = None, delay_ms: float = 0.0,
          loss_percent: float = 0.0) -> None:
    first, *rest = shape_commands(dev, rate_bits, netns=netns, delay_ms=delay_ms, loss_percent=loss_percent)
    run(first, check=False)  # "no qdisc to delete" is fine
    for argv in rest:
        r = run(argv, check=False)
        if r.returncode != 0:
            if "netem" in argv and _unknown_qdisc(r.stderr):
                raise UsageError(NETEM_MISSING)
            raise HarnessError(f"{' '.join(argv)}: {r.stderr.strip()}")


def _unknown_qdisc(stderr: str) -> bool:
    # iproute2 >= 5 says "Specified qdisc kind is unknown."; older ones print
    # "RTNETLINK answers: No such file or directory" when the module is missing.
    s = stderr.lower()
    return "qdisc kind is unknown" in s or "no such file or directory" in s


def netem_available(scratch_dev: str, scratch_netns: str) -> tuple[bool, str]:
    """Try to attach netem to a device of a scratch namespace (the kernel loads sch_netem
    on demand if it is a module, so trying is the only reliable test). (ok, tc's message)."""
    r = run(netem_probe_command(scratch_dev, scratch_netns), check=False)
    if r.returncode == 0:
        run(_prefix(scratch_netns) + ["qdisc", "del", "dev", scratch_dev, "root"], check=False)
        return True, ""
    return False, r.stderr.strip()


def describe(dev: str, netns: str | None = None) -> str:
    """'tbf 50Mbit', 'netem', 'noqueue' … for `sandbox status`; '?' if tc cannot tell."""
    r = run(show_command(dev, netns), check=False)
    return summarize_qdisc(r.stdout) if r.returncode == 0 else "?"


def summarize_qdisc(show_output: str) -> str:
    """PURE: the root qdisc's kind and rate from `tc qdisc show` output."""
    parts = []
    for line in show_output.splitlines():
        m = re.match(r"qdisc (\S+) \S+ (root|parent \S+)", line)
        if not m:
            continue
        rate = re.search(r"\brate (\S+)", line)
        delay = re.search(r"\bdelay (\S+)", line)
        parts.append(m.group(1) + (f" {rate.group(1)}" if rate else "") + (f" delay {delay.group(1)}" if delay else ""))
    return ", ".join(parts) or "none"
