"""PURE: fill an example inventory's placeholder hosts from a discovered one
(`harness hosts discover --fill hosts/examples/X.yaml`).

Each example host is matched to a discovered host with the same name (the instance's Name
tag), else to the first unused discovered host of the same instance type. The example keeps
its names, slots, labels and prices (the study's configurations select those names); the
discovered host gives address, user, key and its instance labels (instance_id, az, ...)."""

from __future__ import annotations

from typing import Any, Mapping

from harness.errors import HarnessError

_FROM_DISCOVERY = ("address", "port", "user", "key", "instance_type")


def fill_inventory(example: Mapping[str, Any], discovered: Mapping[str, Any], source: str = "example") -> tuple[dict, list[str]]:
    ex_defaults = dict(example.get("defaults") or {})
    found_defaults = dict(discovered.get("defaults") or {})
    found = [{**found_defaults, **h} for h in discovered.get("hosts") or []]
    used: set[int] = set()
    hosts, notes, missing = [], [], []
    for ex in example.get("hosts") or []:
        itype = ex.get("instance_type") or ex_defaults.get("instance_type")
        pick = next((i for i, f in enumerate(found) if i not in used and f.get("name") == ex.get("name")), None)
        how = "by name"
        if pick is None:
            pick = next((i for i, f in enumerate(found) if i not in used and itype and f.get("instance_type") == itype),
                        None)
            how = f"by instance type {itype}"
        if pick is None:
            missing.append(f"{ex.get('name')} ({itype or 'no instance_type'})")
            continue
        used.add(pick)
        f = found[pick]
        if itype and f.get("instance_type") and f["instance_type"] != itype:
            notes.append(f"host {ex.get('name')}: {source} says {itype}, the instance is {f['instance_type']}; "
                         f"using the instance's type")
        h = dict(ex)
        h.update({k: f[k] for k in _FROM_DISCOVERY if f.get(k) is not None})
        h["labels"] = {**(ex_defaults.get("labels") or {}), **(ex.get("labels") or {}), **(f.get("labels") or {})}
        notes.append(f"host {ex.get('name')}: {f.get('address')} (discovered {f.get('name')}, matched {how})")
        hosts.append(h)
    if missing:
        raise HarnessError(f"{source}: no running instance for host(s) {', '.join(missing)}; start them (Name tag = "
                           f"the host name, or the same instance type) or check --tag/--region")
    for i, f in enumerate(found):
        if i not in used:
            notes.append(f"discovered host {f.get('name')} ({f.get('instance_type')}) is not in {source}; left out")
    return {"defaults": ex_defaults, "hosts": hosts}, notes
