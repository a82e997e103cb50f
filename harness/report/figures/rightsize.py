"""A smaller instance for an underused host (pure): the action estimate of the batch-size and
low-GPU diagnoses ("at its peaks the work used 35 % of this c7i.2xlarge; c7i.xlarge holds
that peak at 70 % and costs 50 % less per hour").

The peak demand is the host's p95 utilization times what it has (vCPUs, or its cgroup
quota; GPUs), and its highest memory use. A candidate is an instance type of the same
family (the name before the dot) with the same GPU model, cheaper per hour in the price
catalog, on which that peak stays at or below PEAK_FIT of its vCPUs and GPUs and of its
memory (instance facts). The cheapest wins. Its effect, 1 − price ratio, is a cost per
image only if throughput holds: the peak fits, but a smaller type may also have less
network bandwidth or memory bandwidth; the action says so rather than promise it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from harness.prices import Catalog
from harness.report.read.records import RunData

PEAK_FIT = 0.9     # the peak may use at most this share of the smaller type


@dataclass(frozen=True)
class Demand:
    vcpus: float                      # p95 CPU share × the host's cores
    gpus: float = 0.0                 # p95 GPU share × its GPUs
    memory_bytes: Optional[float] = None


@dataclass(frozen=True)
class Smaller:
    instance_type: str
    vcpus: int
    gpus: int
    usd_per_hour: float
    saving: float                     # 1 − its price / the current price
    cpu_peak: float                   # the demand's share of its vCPUs
    current: str
    current_usd_per_hour: float

    def text(self) -> str:
        return (f"{self.instance_type} ({self.vcpus} vCPUs{f', {self.gpus} GPU(s)' if self.gpus else ''}, "
                f"${self.usd_per_hour:.4g}/h) would hold that peak at {100 * self.cpu_peak:.0f} % of its vCPUs "
                f"and costs {100 * self.saving:.0f} % less per hour than {self.current} "
                f"(${self.current_usd_per_hour:.4g}/h): as much less per image if throughput holds")


def _family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def smaller_type(itype: Optional[str], demand: Demand, catalog: Catalog, facts=None) -> Optional[Smaller]:
    """The cheapest cheaper type of the same family and GPU model that holds `demand`."""
    cur = catalog.get(itype)
    if cur is None or not math.isfinite(demand.vcpus):
        return None
    best = None
    for e in catalog.entries.values():
        if _family(e.instance_type) != _family(cur.instance_type) or e.gpu_model != cur.gpu_model:
            continue
        if e.on_demand_usd_per_hour >= cur.on_demand_usd_per_hour or e.vcpus <= 0:
            continue
        if demand.vcpus > PEAK_FIT * e.vcpus or demand.gpus > PEAK_FIT * e.gpus + 1e-9:
            continue
        if demand.gpus > 0 and e.gpus < 1:
            continue
        f = facts.get(e.instance_type) if facts is not None else None
        mem = getattr(f, "memory_mib", None)
        if demand.memory_bytes is not None and mem and demand.memory_bytes > PEAK_FIT * mem * 2 ** 20:
            continue
        if best is None or e.on_demand_usd_per_hour < best.on_demand_usd_per_hour:
            best = e
    if best is None:
        return None
    return Smaller(best.instance_type, best.vcpus, best.gpus, best.on_demand_usd_per_hour,
                   1 - best.on_demand_usd_per_hour / cur.on_demand_usd_per_hour, demand.vcpus / best.vcpus,
                   cur.instance_type, cur.on_demand_usd_per_hour)


def declared_type(run: RunData, config: str, host: str) -> Optional[str]:
    """The instance type a configuration's host ran as: config_start's, else the inventory's."""
    for r in run.control_of("config_start"):
        if r.get("config") == config or r.get("configuration") == config:
            t = (r.get("instance_types") or {}).get(host)
            if isinstance(t, str) and t:
                return t
    t = (run.inventory_host(host) or {}).get("instance_type")
    return t if isinstance(t, str) and t else None
