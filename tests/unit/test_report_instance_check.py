"""A host that is not the machine its instance type says is flagged, with the evidence."""

import json

from harness.prices.facts import load_facts
from harness.report.figures.instance_check import expected_vendor, instance_checks, observed_vendor
from harness.report.read.rundir import load_run
from tests.support.gpu_runs import gpu_run


def test_vendor_from_type_name_and_cpu_model():
    assert [expected_vendor(t) for t in ("c6g.large", "c7a.large", "c7i.large", "g4dn.xlarge", "c6gn.xlarge")] == \
        ["ARM", "AMD", "Intel", None, "ARM"]
    assert observed_vendor("AMD EPYC") == "AMD" and observed_vendor("Intel(R) Xeon(R) Platinum") == "Intel"
    assert observed_vendor(None, "Linux-6.1-aarch64-with-glibc2.36") == "ARM"


def test_matching_hosts_pass_and_a_mismatch_is_flagged(tmp_path):
    root = gpu_run(tmp_path / "run")
    checks = {c.host: c for c in instance_checks(load_run(root), load_facts())}
    assert checks["g1"].status == "ok" and "declared g4dn.xlarge: 4 vCPUs, 16 GiB, 1 GPU(s)" in checks["g1"].evidence
    assert checks["g3"].status == "not evaluated"  # x9.weird: no facts
    # g1's sampler now reports 2 cores, 4 GiB and no GPU, on an AMD CPU: all four differ
    samples = root / "hosts" / "g1" / "single" / "sampler" / "samples.jsonl"
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    for r in lines:
        if r["event"] == "sampler_start":
            r.update(cores=2, memory_total_bytes=4 * 2 ** 30, gpus=[])
    samples.write_text("".join(json.dumps(r) + "\n" for r in lines))
    events = root / "hosts" / "g1" / "single" / "w0" / "events.jsonl"
    recs = [json.loads(x) for x in events.read_text().splitlines()]
    for r in recs:
        if r["event"] == "run_start":
            r["host_facts"] = {"cores_logical": 2, "cpu_model": "AMD EPYC", "platform": "Linux-x86_64"}
    events.write_text("".join(json.dumps(r) + "\n" for r in recs))
    c = {c.host: c for c in instance_checks(load_run(root), load_facts())}["g1"]
    assert c.triggered
    assert c.evidence.endswith("does not match: 2 logical cores, declared 4 vCPUs; memory 4.0 GiB, declared "
                               "16.0 GiB; 0 GPU(s), declared 1")
