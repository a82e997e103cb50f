"""PURE: the points of a search space (experiment's `search:` × the inventory), what each
type is (vCPUs, link rate, price), and a point as a normal configuration on named hosts.

A type's hosts are the inventory's hosts of that instance type; a point needs `hosts` of
them (one worker per host; a parameter server's ps on hosts of their own). Its link rate is
the hosts' `rate` label (the sandbox writes it), else the instance facts' network
performance; its price the inventory's price_per_hour, else the catalog's on-demand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from harness.config.search import SearchSpec
from harness.errors import ConfigError
from harness.report.figures.link_rate import parse_bits
from harness.report.figures.perf_model import Point, TypeInfo
from harness.strategies import gradients_of, lookup
from harness.strategies.base import PS_PUSH_PULL


@dataclass
class Space:
    points: list[Point]
    types: dict[str, TypeInfo]
    hosts: dict[str, list[str]]          # type → inventory host names
    skipped: list[str] = field(default_factory=list)

    @property
    def prices(self) -> dict[str, float]:
        return {t: i.usd_per_hour or 0.0 for t, i in self.types.items()}

    @property
    def capacity(self) -> dict[str, int]:
        return {t: len(h) for t, h in self.hosts.items()}


def type_info(itype: str, hosts: Sequence, facts, catalog, where: str) -> TypeInfo:
    f = facts.get(itype) if facts is not None else None
    vcpus = f.vcpus if f else None
    rate = None
    for h in hosts:
        label = (h.labels or {}).get("rate")
        rate = parse_bits(label) if label else rate
    if rate is None and f is not None and f.network_performance:
        rate = parse_bits(f.network_performance)
    price = next((h.price_per_hour for h in hosts if h.price_per_hour), None)
    if price is None and catalog is not None:
        entry = catalog.get(itype)
        price = entry.on_demand_usd_per_hour if entry else None
    if vcpus is None and catalog is not None and catalog.get(itype):
        vcpus = catalog.get(itype).vcpus
    missing = [n for n, v in (("vCPUs", vcpus), ("link rate", rate), ("price", price)) if v is None]
    if missing:
        raise ConfigError([f"{where}: instance type {itype}: no {', '.join(missing)} (instance facts, catalog or "
                           f"the inventory's price_per_hour / rate label); set them in the inventory"])
    return TypeInfo(itype, int(vcpus), float(rate), float(price), f.gpus if f else 0)


def build(spec: SearchSpec, inventory, batch: int, facts, catalog, where: str = "search") -> Space:
    hosts: dict[str, list] = {}
    for h in inventory.hosts:
        if h.instance_type in spec.instance_types:
            hosts.setdefault(h.instance_type, []).append(h)
    absent = [t for t in spec.instance_types if t not in hosts]
    if absent:
        raise ConfigError([f"{where}.instance_types: {', '.join(absent)} not in the inventory (no host with that "
                           f"instance_type); add hosts of it or drop it from the axis"])
    types = {t: type_info(t, hs, facts, catalog, where) for t, hs in hosts.items()}
    points, skipped = [], []
    for t in spec.instance_types:
        for s in spec.strategies:
            for m in spec.workers:
                for th, b in itertools.product(spec.threads or [None], spec.batch_sizes or [batch]):
                    distributed = lookup(s).distributed
                    if (m == 1) == distributed:
                        continue   # single takes one worker; the distributed strategies two or more
                    ps = spec.ps if gradients_of(s) == PS_PUSH_PULL else 0
                    p = Point(t, s, m, ps, th, b, spec.batch_axis)
                    if p.hosts > len(hosts[t]):
                        skipped.append(f"{p.key}: needs {p.hosts} hosts of {t}, the inventory has {len(hosts[t])}")
                        continue
                    points.append(p)
    if not points:
        raise ConfigError([f"{where}: no point of the space fits the inventory ({'; '.join(skipped) or 'empty axes'})"])
    return Space(points, types, {t: [h.name for h in hs] for t, hs in hosts.items()}, skipped)


def config_name(p: Point) -> str:
    return p.key.replace("/", "-")


def configuration(p: Point, host_names: Sequence[str]) -> dict:
    """The point as an experiment configuration on these hosts (workers first, then the ps)."""
    th = p.threads or 1
    threads = {"intra_op": th, "inter_op": 2 if p.kind == PS_PUSH_PULL else 1, "omp": th}
    out = {"name": config_name(p), "strategy": p.strategy, "hosts": list(host_names[:p.hosts]), "threads": threads}
    if p.workers > 1:
        out["workers"] = p.workers
    if p.batch_axis:   # the configuration's own workload (harness/config/overrides.py)
        out["workload"] = {"batch_size": p.batch}
    if p.kind == PS_PUSH_PULL:
        out["ps"] = p.ps
        out["ps_hosts"] = list(host_names[p.workers:p.hosts])
    return out


def assign(wave: Sequence[Point], hosts: Mapping[str, Sequence[str]]) -> list[dict]:
    """Configurations for a wave on disjoint hosts of each type."""
    free = {t: list(h) for t, h in hosts.items()}
    out = []
    for p in wave:
        names = free[p.instance_type][:p.hosts]
        if len(names) < p.hosts:
            raise ValueError(f"{p.key}: not enough free hosts of {p.instance_type} in this wave")
        free[p.instance_type] = free[p.instance_type][p.hosts:]
        out.append(configuration(p, names))
    return out


def find(space: Space, name: str) -> Optional[Point]:
    return next((p for p in space.points if config_name(p) == name), None)
