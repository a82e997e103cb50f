"""Stage 3, connect: one open transport to every host the plan uses, before anything is
written or started, so an unreachable host is a clean error and not a half-started run."""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.config.inventory import Host, Inventory
from harness.stages.plan import Plan
from harness.transport import open_transports
from harness.transport.base import Transport


@dataclass
class Connections:
    hosts: list[Host]                   # the hosts the plan uses, in plan order
    transports: dict[str, Transport]
    seconds: float                      # opening them all, in parallel

    def close(self) -> None:
        for tr in self.transports.values():
            tr.close()


def used_hosts(plan: Plan, inv: Inventory) -> list[Host]:
    names = dict.fromkeys(t.host for cp in plan.configs for t in cp.tasks)
    return [inv.host(n) for n in names]


def connect(plan: Plan, inv: Inventory, ssh_options=None) -> Connections:
    hosts = used_hosts(plan, inv)
    t0 = time.monotonic()
    transports = open_transports(hosts, ssh_options)
    return Connections(hosts, transports, time.monotonic() - t0)
