"""harness.aws.discover: tag/filter parsing, the pure instances → inventory step, and the
whole discovery against moto's server."""

import pytest
import yaml

from harness.aws.discover import (
    DiscoverOptions, build_inventory, discover, flatten_reservations, instance_filters, parse_filter_args,
    parse_tag_args,
)
from harness.aws.instance_types import InstanceFacts
from harness.aws.session import AwsSettings
from harness.config.inventory import Inventory
from harness.errors import HarnessError, UsageError
from tests.support.aws_fixtures import aws_env, boto_client, moto_server, run_instance  # noqa: F401

G4DN = InstanceFacts("g4dn.xlarge", 4, 16384, 1, "NVIDIA T4", 16384, "Up to 25 Gigabit")
C5 = InstanceFacts("c5.xlarge", 4, 8192, 0, None, None, "Up to 10 Gigabit")


def test_tag_and_filter_shorthand():
    assert parse_tag_args(["Project=exp1", "Role=a", "Role=b", "Empty="]) == [
        {"Name": "tag:Project", "Values": ["exp1"]}, {"Name": "tag:Role", "Values": ["a", "b"]},
        {"Name": "tag:Empty", "Values": [""]}]
    assert parse_filter_args(["Name=instance-type,Values=g4dn.xlarge,c5.xlarge"]) == [
        {"Name": "instance-type", "Values": ["g4dn.xlarge", "c5.xlarge"]}]
    for bad in (["Project"], ["=x"]):
        with pytest.raises(UsageError, match="expected Key=Value"):
            parse_tag_args(bad)
    for bad in (["instance-type=g4dn.xlarge"], ["Name=instance-type,Values="]):
        with pytest.raises(UsageError, match="expected Name="):
            parse_filter_args(bad)
    # running only, unless the user asks for a state
    assert instance_filters(["P=1"])[-1] == {"Name": "instance-state-name", "Values": ["running"]}
    f = instance_filters([], ["Name=instance-state-name,Values=stopped"])
    assert f == [{"Name": "instance-state-name", "Values": ["stopped"]}]


def _inst(iid, itype, name=None, public="203.0.113.5", private="10.0.0.5", key="exp1", spot=False, az="us-east-1a",
          tags=None):
    tags = dict(tags or {})
    if name:
        tags["Name"] = name
    d = {"InstanceId": iid, "InstanceType": itype, "PrivateIpAddress": private, "KeyName": key,
         "Placement": {"AvailabilityZone": az}, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
         "State": {"Name": "running"}}
    if public:
        d["PublicIpAddress"] = public
        d["PublicDnsName"] = f"ec2-{public.replace('.', '-')}.compute-1.amazonaws.com"
    if key is None:
        del d["KeyName"]
    if spot:
        d["InstanceLifecycle"] = "spot"
    return d


def test_build_inventory_from_recorded_shapes(tmp_path):
    (tmp_path / "exp1.pem").write_text("key")
    pages = [{"Reservations": [{"Instances": [_inst("i-1", "g4dn.xlarge", "gpu a", spot=True,
                                                    tags={"Project": "exp1"})]}]},
             {"Reservations": [{"Instances": [_inst("i-2", "c5.xlarge", "worker", key="other"),
                                              _inst("i-3", "c5.xlarge", "worker", az="us-east-1b")]},
                               {"Instances": [_inst("i-4", "c5.xlarge", "nopublic", public=None),
                                              _inst("i-5", "m9.huge", None, key=None)]}]}]
    found = build_inventory(flatten_reservations(pages), {"g4dn.xlarge": G4DN, "c5.xlarge": C5},
                            DiscoverOptions("us-east-1", key_dir=str(tmp_path)))
    hosts = {h["name"]: h for h in found.inventory["hosts"]}
    assert sorted(hosts) == ["gpu-a", "i-5", "worker-i-2", "worker-i-3"]  # duplicates suffixed; nopublic skipped
    gpu = hosts["gpu-a"]
    assert gpu["address"] == "203.0.113.5" and gpu["key"] == str(tmp_path / "exp1.pem")
    assert (gpu["instance_type"], gpu["slots"], gpu["gpus"]) == ("g4dn.xlarge", 1, 1)
    assert gpu["labels"] == {"instance_id": "i-1", "az": "us-east-1a", "region": "us-east-1", "lifecycle": "spot",
                             "key_name": "exp1", "tag:Name": "gpu a", "tag:Project": "exp1"}
    assert (hosts["worker-i-2"]["slots"], hosts["worker-i-2"]["gpus"]) == (4, 0)  # CPU host: a slot per vCPU
    assert hosts["worker-i-3"]["labels"]["lifecycle"] == "on-demand"
    assert hosts["i-5"]["slots"] == 1 and "key" not in hosts["i-5"]
    notes = "\n".join(found.notes)
    assert "instance i-4 (nopublic): no public IP" in notes and "--use-private-ip" in notes
    assert f"key file {tmp_path / 'other.pem'} not found (key pair 'other' of host(s) worker-i-2)" in notes
    assert "no facts for instance type m9.huge" in notes
    assert "host(s) i-5: launched without a key pair" in notes
    Inventory.model_validate(found.inventory)  # what discover prints is a valid inventory

    private = build_inventory(flatten_reservations(pages), {}, DiscoverOptions("us-east-1", use_private_ip=True,
                                                                               user="ec2-user"))
    assert {h["address"] for h in private.inventory["hosts"]} == {"10.0.0.5"}
    assert private.inventory["defaults"] == {"user": "ec2-user"}
    assert len(private.inventory["hosts"]) == 5
    assert "host(s) gpu-a, nopublic, worker-i-3: launched with key pair 'exp1'; pass --key-dir DIR to use DIR/exp1.pem" in "\n".join(private.notes)


def test_discover_against_moto_with_tags_filters_and_pages(aws_env, tmp_path):
    ec2 = boto_client("ec2", aws_env)
    (tmp_path / "exp1.pem").write_text("key")
    gpu = run_instance(ec2, "g4dn.xlarge", {"Project": "exp1", "Name": "gpu-a"}, spot=True)[0]
    cpus = run_instance(ec2, "c5.xlarge", {"Project": "exp1", "Name": "cpu"}, count=3)
    run_instance(ec2, "c5.xlarge", {"Project": "other", "Name": "not-mine"})
    stopped = run_instance(ec2, "c5.xlarge", {"Project": "exp1", "Name": "stopped"})[0]
    ec2.stop_instances(InstanceIds=[stopped])

    settings = AwsSettings(region="us-east-1")
    found, text = discover(settings, ["Project=exp1"], key_dir=str(tmp_path), page_size=2)
    doc = yaml.safe_load(text)
    assert text.startswith("# written by `harness hosts discover`")
    assert doc == found.inventory
    ids = {h["labels"]["instance_id"]: h for h in doc["hosts"]}
    assert set(ids) == {gpu, *cpus}  # tag matched, running only, every page read
    g = ids[gpu]
    assert g["name"] == "gpu-a" and g["labels"]["lifecycle"] == "spot" and g["labels"]["tag:Project"] == "exp1"
    assert (g["slots"], g["gpus"]) == (1, 1) and g["key"] == str(tmp_path / "exp1.pem")
    assert g["address"] == ec2.describe_instances(InstanceIds=[gpu])["Reservations"][0]["Instances"][0]["PublicIpAddress"]
    assert {ids[c]["slots"] for c in cpus} == {4}
    assert found.facts["g4dn.xlarge"].gpu_name == "NVIDIA T4"
    Inventory.model_validate(doc)

    only_cpu, _ = discover(settings, ["Project=exp1"], ["Name=instance-type,Values=c5.xlarge"])
    assert {h["labels"]["instance_id"] for h in only_cpu.inventory["hosts"]} == set(cpus)
    assert any("pass --key-dir" in n for n in only_cpu.notes)

    with pytest.raises(HarnessError, match="no instances in us-east-1 match tag:Project=nothing"):
        discover(settings, ["Project=nothing"])
