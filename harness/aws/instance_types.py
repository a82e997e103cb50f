"""Instance type facts from EC2 DescribeInstanceTypes: vCPUs, memory, GPUs, network.

`parse_instance_types` is PURE over the response's `InstanceTypes` entries;
`describe_instance_types` makes the (paginated) requests; `write_instance_facts` stores
them as instance_facts.json in a run directory, for the report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

FACTS_FILE = "instance_facts.json"
FACTS_SOURCE = "ec2 describe_instance_types"
_MAX_TYPES_PER_CALL = 100  # DescribeInstanceTypes accepts at most 100 names per request


@dataclass(frozen=True)
class InstanceFacts:
    instance_type: str
    vcpus: int
    memory_mib: int
    gpus: int  # 0 on CPU instances
    gpu_name: Optional[str]  # "NVIDIA T4"; several kinds are joined with " + "
    gpu_memory_mib: Optional[int]  # per GPU (the first kind's), None without GPUs
    network_performance: Optional[str]  # "Up to 25 Gigabit"

    def to_dict(self) -> dict:
        return asdict(self)


def parse_instance_type(entry: Mapping[str, Any]) -> InstanceFacts:
    """One element of DescribeInstanceTypes' `InstanceTypes` → InstanceFacts."""
    gpus = (entry.get("GpuInfo") or {}).get("Gpus") or []
    count = sum(int(g.get("Count") or 0) for g in gpus)
    names = [" ".join(p for p in (g.get("Manufacturer"), g.get("Name")) if p) for g in gpus]
    first_mem = (gpus[0].get("MemoryInfo") or {}).get("SizeInMiB") if gpus else None
    return InstanceFacts(
        instance_type=str(entry["InstanceType"]),
        vcpus=int((entry.get("VCpuInfo") or {}).get("DefaultVCpus") or 0),
        memory_mib=int((entry.get("MemoryInfo") or {}).get("SizeInMiB") or 0),
        gpus=count,
        gpu_name=" + ".join(n for n in names if n) or None,
        gpu_memory_mib=int(first_mem) if first_mem is not None else None,
        network_performance=(entry.get("NetworkInfo") or {}).get("NetworkPerformance"))


def parse_instance_types(entries: Iterable[Mapping[str, Any]]) -> dict[str, InstanceFacts]:
    """All entries (of every page) → {instance_type: InstanceFacts}, sorted by type."""
    facts = [parse_instance_type(e) for e in entries]
    return {f.instance_type: f for f in sorted(facts, key=lambda f: f.instance_type)}


def slots_for(facts: InstanceFacts) -> int:
    """Training slots of a host: one per GPU, else one per vCPU."""
    return facts.gpus if facts.gpus > 0 else max(1, facts.vcpus)


def describe_instance_types(ec2, instance_types: Iterable[str]) -> tuple[dict[str, InstanceFacts], list[str]]:
    """Facts for the given types and a note per type EC2 does not know. One bad name fails
    a whole DescribeInstanceTypes request, so on that error each type is asked alone."""
    import botocore.exceptions as bx

    wanted = sorted({t for t in instance_types if t})
    entries: list[dict] = []
    notes: list[str] = []
    pager = ec2.get_paginator("describe_instance_types")
    for i in range(0, len(wanted), _MAX_TYPES_PER_CALL):
        chunk = wanted[i:i + _MAX_TYPES_PER_CALL]
        try:
            for page in pager.paginate(InstanceTypes=chunk):
                entries.extend(page.get("InstanceTypes", []))
        except bx.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "InvalidInstanceType":
                raise
            for t in chunk:
                try:
                    entries.extend(ec2.describe_instance_types(InstanceTypes=[t]).get("InstanceTypes", []))
                except bx.ClientError as e1:
                    if e1.response.get("Error", {}).get("Code") != "InvalidInstanceType":
                        raise
                    notes.append(f"instance type {t}: unknown to EC2 in this region")
    return parse_instance_types(entries), notes


def facts_document(facts: Mapping[str, InstanceFacts], region: Optional[str],
                   as_of: Optional[str] = None) -> dict:
    """instance_facts.json: {"source", "region", "as_of", "instance_types": {type: facts}}."""
    return {"source": FACTS_SOURCE, "region": region,
            "as_of": as_of or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "instance_types": {t: f.to_dict() for t, f in sorted(facts.items())}}


def write_instance_facts(run_dir: str | Path, facts: Mapping[str, InstanceFacts],
                         region: Optional[str] = None) -> Path:
    path = Path(run_dir) / FACTS_FILE
    path.write_text(json.dumps(facts_document(facts, region), indent=2) + "\n", encoding="utf-8")
    return path


def read_instance_facts(run_dir: str | Path) -> dict[str, InstanceFacts]:
    """The facts stored with a run ({} when there are none)."""
    path = Path(run_dir) / FACTS_FILE
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {t: InstanceFacts(**f) for t, f in (doc.get("instance_types") or {}).items()}
