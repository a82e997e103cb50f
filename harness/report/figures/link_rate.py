"""PURE link rate of a run's hosts for the communication analysis (comm.py): tc units from
the inventory's `rate` label (the sandbox writes it), or EC2 network performance from the
instance facts stored with the run, else the bundled table (harness/prices/facts.py)."""

from __future__ import annotations

import re
from typing import Optional, Sequence

from harness.report.read.records import RunData

_GBIT = re.compile(r"(\d+(?:\.\d+)?)\s*Gigabit", re.I)
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|tbit)?\s*$", re.I)
_UNIT = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12}


def parse_bits(text: str) -> Optional[float]:
    """'10gbit' / '100mbit' (tc units) or 'Up to 10 Gigabit' (EC2) → bits per second."""
    m = _RATE.match(str(text))
    if m:
        return float(m.group(1)) * _UNIT[(m.group(2) or "bit").lower()]
    g = _GBIT.search(str(text))
    return float(g.group(1)) * 1e9 if g else None


def link_rate(run: RunData, hosts: Sequence[str]) -> tuple[Optional[float], str]:
    """The slowest known link of the hosts, from the inventory's `rate` label (the sandbox
    writes it) or the EC2 instance facts stored with the run."""
    rates = []
    stored = _instance_facts(run)   # read once, not per host
    for h in hosts:
        inv = run.inventory_host(h) or {}
        label = (inv.get("labels") or {}).get("rate")
        bits = parse_bits(label) if label else None
        if bits:
            rates.append((bits, f"inventory label rate={label} (host {h})"))
            continue
        facts = stored.get(inv.get("instance_type"))
        perf = getattr(facts, "network_performance", None) if facts else None
        bits = parse_bits(perf) if perf else None
        if bits:
            rates.append((bits, f"instance facts: {inv.get('instance_type')} network '{perf}'"))
    if not rates or len(rates) < len(set(hosts)):
        return None, "link rate unknown (no `rate` label or instance facts for every host)"
    return min(rates)


def _instance_facts(run: RunData) -> dict:
    """Instance facts stored with the run (EC2), else the bundled table (harness/prices/facts.py)."""
    try:
        from harness.aws.instance_types import read_instance_facts

        stored = read_instance_facts(run.run_dir)
    except Exception:   # absent or unreadable: fall back to the bundled facts
        stored = {}

    class _Facts(dict):
        def get(self, key, default=None):
            if key in stored:
                return stored[key]
            from harness.prices.facts import load_facts

            return load_facts().get(key) if key else default
    return _Facts()
