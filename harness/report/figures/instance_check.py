"""Is each host the machine its inventory says? (pure)

Observed: the host facts a training task records in its run_start (logical cores, memory,
GPUs, CPU model) and the sampler's sampler_start (cores, memory, GPU names). Declared: the
instance type's facts (bundled DescribeInstanceTypes data, harness/prices/facts.py). A
host is flagged when its vCPUs or GPU count differ, its memory is outside 85–110 % of
the declared (the kernel keeps a few percent), or its CPU vendor is not the one the type's
name promises (…g = ARM Graviton, …a = AMD, …i = Intel)."""

from __future__ import annotations

import re
from typing import Optional

from harness.report.figures.diagnose import NOT_EVALUATED, OK, TRIGGERED, Check
from harness.report.read.records import RunData

NAME = "instance type mismatch"
MEM_LOW, MEM_HIGH = 0.85, 1.10
THRESHOLD = (f"vCPUs or GPUs differ, memory outside {MEM_LOW:.0%}–{MEM_HIGH:.0%} of the declared, "
             f"or another CPU vendor than the type promises")
_TYPE = re.compile(r"^[a-z]+\d+([a-z-]*)\.")


def expected_vendor(instance_type: str) -> Optional[str]:
    m = _TYPE.match(instance_type or "")
    if not m:
        return None
    suffix = m.group(1)
    for letter, vendor in (("g", "ARM"), ("a", "AMD"), ("i", "Intel")):
        if letter in suffix:
            return vendor
    return None


def observed_vendor(cpu_model: Optional[str], platform: Optional[str] = None) -> Optional[str]:
    text = f"{cpu_model or ''} {platform or ''}".lower()
    if "amd" in text:
        return "AMD"
    if "intel" in text or "xeon" in text:
        return "Intel"
    if "aarch64" in text or "arm" in text or "neoverse" in text or "graviton" in text:
        return "ARM"
    return None


def _observed(run: RunData, host: str) -> dict:
    """What the host showed: the sampler's sampler_start first (cores, memory, GPU names),
    then a training task's run_start host facts for what the sampler lacks (CPU model)."""
    out: dict = {}
    for s in run.samplers:
        if s.host == host and s.first("sampler_start"):
            st = s.first("sampler_start")
            out.update(cores=st.get("cores"), memory=st.get("memory_total_bytes"),
                       gpus=len(st["gpus"]) if isinstance(st.get("gpus"), list) else None)
            break
    for t in run.tasks:
        facts = (t.first("run_start") or {}).get("host_facts") if t.host == host else None
        if isinstance(facts, dict):
            for key, field in (("cores", "cores_logical"), ("memory", "memory_bytes")):
                if out.get(key) is None:
                    out[key] = facts.get(field)
            if out.get("gpus") is None and isinstance(facts.get("gpus"), list):
                out["gpus"] = len(facts["gpus"])
            out.update(cpu_model=facts.get("cpu_model"), platform=facts.get("platform"))
            break
    return out


def instance_checks(run: RunData, facts_table) -> list[Check]:
    first_config: dict[str, str] = {}
    types: dict[str, str] = {}
    for r in run.control_of("config_start"):
        for h in r.get("hosts") or []:
            if isinstance(h, str):
                first_config.setdefault(h, str(r.get("config")))
        for h, t in (r.get("instance_types") or {}).items():
            if isinstance(t, str) and t:
                types.setdefault(h, t)
    out = []
    for host, config in first_config.items():
        itype = types.get(host) or (run.inventory_host(host) or {}).get("instance_type")
        declared = facts_table.get(itype) if itype else None
        if declared is None:
            out.append(Check(config, NAME, host, NOT_EVALUATED,
                             f"no instance type, or no facts for {itype!r}" if itype else "no instance_type declared",
                             THRESHOLD))
            continue
        seen = _observed(run, host)
        if not seen:
            out.append(Check(config, NAME, host, NOT_EVALUATED, "no run_start host facts or sampler_start", THRESHOLD))
            continue
        problems = []
        missing = []   # 1 − observed/declared of what was paid for and is not there
        cores, mem, gpus = seen.get("cores"), seen.get("memory"), seen.get("gpus")
        if isinstance(cores, int) and cores != declared.vcpus:
            problems.append(f"{cores} logical cores, declared {declared.vcpus} vCPUs")
            missing.append(1 - cores / declared.vcpus if declared.vcpus else 0.0)
        if isinstance(mem, (int, float)) and mem > 0:
            want = declared.memory_mib * 2 ** 20
            if not MEM_LOW * want <= mem <= MEM_HIGH * want:
                problems.append(f"memory {mem / 2 ** 30:.1f} GiB, declared {want / 2 ** 30:.1f} GiB")
                missing.append(1 - mem / want if want else 0.0)
        if isinstance(gpus, int) and gpus != declared.gpus:
            problems.append(f"{gpus} GPU(s), declared {declared.gpus}")
            missing.append(1 - gpus / declared.gpus if declared.gpus else 0.0)
        want_v = expected_vendor(itype)
        got_v = observed_vendor(seen.get("cpu_model"), seen.get("platform"))
        if want_v and got_v and want_v != got_v:
            problems.append(f"CPU {seen.get('cpu_model')!r} ({got_v}), the type promises {want_v}")
        observed = (f"observed {cores} cores, "
                    f"{mem / 2 ** 30:.1f} GiB" if isinstance(mem, (int, float)) else f"observed {cores} cores")
        observed += f", {gpus} GPU(s), CPU {seen.get('cpu_model')!r}"
        declared_txt = (f"{itype}: {declared.vcpus} vCPUs, {declared.memory_mib / 1024:g} GiB, "
                        f"{declared.gpus} GPU(s) ({facts_table.source_of(itype)})")
        evidence = (f"declared {declared_txt}; {observed}"
                    + (f" — does not match: {'; '.join(problems)}" if problems else ""))
        sev = max(0.0, *missing) if missing else None
        out.append(Check(config, NAME, host, TRIGGERED if problems else OK, evidence, THRESHOLD,
                         sev if problems else None,
                         "max over vCPUs, memory, GPUs of 1 − observed/declared: paid for and not there",
                         f"check host {host}: it is not what {itype} promises, and the report's prices assume it is"))
    return out
