"""harness.aws.instance_types: parsing DescribeInstanceTypes, the caller against moto,
and instance_facts.json."""

import json

from harness.aws.instance_types import (
    FACTS_FILE, InstanceFacts, describe_instance_types, parse_instance_types, read_instance_facts, slots_for,
    write_instance_facts,
)
from tests.support.aws_fixtures import aws_env, boto_client, moto_server  # noqa: F401

# Shape of a DescribeInstanceTypes entry for a GPU type with two GPU kinds (made up) and
# one without GPU or network info, to check the parser's defaults.
RECORDED = [
    {"InstanceType": "p9.mixed", "VCpuInfo": {"DefaultVCpus": 32}, "MemoryInfo": {"SizeInMiB": 249856},
     "GpuInfo": {"Gpus": [{"Name": "V100", "Manufacturer": "NVIDIA", "Count": 4, "MemoryInfo": {"SizeInMiB": 16384}},
                          {"Name": "T4", "Manufacturer": "NVIDIA", "Count": 2, "MemoryInfo": {"SizeInMiB": 16384}}],
                 "TotalGpuMemoryInMiB": 98304},
     "NetworkInfo": {"NetworkPerformance": "10 Gigabit"}},
    {"InstanceType": "x1.bare", "VCpuInfo": {"DefaultVCpus": 2}, "MemoryInfo": {"SizeInMiB": 1024}},
]


def test_parse_recorded_shapes():
    facts = parse_instance_types(RECORDED)
    assert list(facts) == ["p9.mixed", "x1.bare"]
    p = facts["p9.mixed"]
    assert (p.vcpus, p.memory_mib, p.gpus, p.gpu_name, p.gpu_memory_mib, p.network_performance) == (
        32, 249856, 6, "NVIDIA V100 + NVIDIA T4", 16384, "10 Gigabit")
    x = facts["x1.bare"]
    assert (x.gpus, x.gpu_name, x.gpu_memory_mib, x.network_performance) == (0, None, None, None)
    assert slots_for(p) == 6 and slots_for(x) == 2


def test_describe_against_moto_and_store_with_the_run(aws_env, tmp_path):
    ec2 = boto_client("ec2", aws_env)
    facts, notes = describe_instance_types(ec2, ["g4dn.xlarge", "c5.xlarge", "g4dn.xlarge", "zz9.nothing"])
    assert notes == ["instance type zz9.nothing: unknown to EC2 in this region"]
    g = facts["g4dn.xlarge"]
    assert (g.vcpus, g.memory_mib, g.gpus, g.gpu_name, g.gpu_memory_mib) == (4, 16384, 1, "NVIDIA T4", 16384)
    assert g.network_performance == "Up to 25 Gigabit"
    c = facts["c5.xlarge"]
    assert (c.vcpus, c.memory_mib, c.gpus, c.gpu_name) == (4, 8192, 0, None)

    path = write_instance_facts(tmp_path, facts, "us-east-1")
    assert path == tmp_path / FACTS_FILE
    doc = json.loads(path.read_text())
    assert doc["source"] == "ec2 describe_instance_types" and doc["region"] == "us-east-1" and doc["as_of"]
    assert doc["instance_types"]["g4dn.xlarge"]["gpu_name"] == "NVIDIA T4"
    assert read_instance_facts(tmp_path) == facts
    assert read_instance_facts(tmp_path / "none") == {}
    assert isinstance(next(iter(facts.values())), InstanceFacts)
