"""PURE: a sandbox inventory made to look like another inventory (`harness sandbox rehearse
--like hosts/examples/X.yaml`): each sandbox host takes the name, instance type, slots,
labels and prices of one host of the example, in order, and keeps its own connection
(address, port, user, key, python, workdir). A study's configurations then select the same
host names on the sandbox as on EC2; prices are the catalog's for the type a sandbox host
stands in for, while the speed measured is this machine's. No GPUs: `gpus` is 0."""

from __future__ import annotations

from typing import Any, Mapping

from harness.errors import UsageError

# What a rehearsal host keeps from the example host it stands in for.
_FROM_EXAMPLE = ("instance_type", "slots", "price_per_hour", "spot_price_per_hour", "env")
_CONNECTION = ("user", "key", "python", "workdir", "port")


def _merged(defaults: Mapping[str, Any], host: Mapping[str, Any]) -> dict:
    out = {**defaults, **host}
    out["labels"] = {**(defaults.get("labels") or {}), **(host.get("labels") or {})}
    return out


def rehearsal_inventory(example: Mapping[str, Any], sandbox: Mapping[str, Any], source: str = "example") -> dict:
    """example: the parsed example inventory YAML; sandbox: harness.sandbox.inventory_dict()."""
    ex_hosts = list(example.get("hosts") or [])
    sb_hosts = list(sandbox.get("hosts") or [])
    if len(sb_hosts) < len(ex_hosts):
        raise UsageError(f"{source}: {len(ex_hosts)} hosts, the sandbox has {len(sb_hosts)}")
    ex_defaults = dict(example.get("defaults") or {})
    sb_defaults = dict(sandbox.get("defaults") or {})
    hosts = []
    for ex, sb in zip(ex_hosts, sb_hosts):
        e = _merged(ex_defaults, ex)
        s = _merged(sb_defaults, sb)
        if e.get("transport") == "local":
            raise UsageError(f"{source}: host {e.get('name')} is a local host; rehearse an inventory of SSH hosts")
        h: dict[str, Any] = {"name": e["name"], "address": s["address"]}
        h.update({k: s[k] for k in _CONNECTION if s.get(k) is not None})
        h.update({k: e[k] for k in _FROM_EXAMPLE if e.get(k) is not None})
        h["gpus"] = 0
        # the example's labels (selectors of the study) plus the sandbox's (network_interface, rate)
        h["labels"] = {**{k: str(v) for k, v in e["labels"].items()}, **s["labels"],
                       "stands_in_for": str(e.get("instance_type") or "")}
        hosts.append(h)
    return {"hosts": hosts}
