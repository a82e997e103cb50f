"""`harness hosts discover`: running EC2 instances → an inventory (the dict behind
hosts/*.yaml).

`build_inventory` is PURE over DescribeInstances' `Instances` entries and the instance
type facts; `discover` is the thin caller (paginated DescribeInstances, then
DescribeInstanceTypes for the types found)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import yaml

from harness.aws.instance_types import InstanceFacts, describe_instance_types, slots_for
from harness.aws.session import AwsSettings, aws_errors, client, make_session, region_of
from harness.errors import HarnessError, UsageError

DEFAULT_USER = "ubuntu"  # the Deep Learning AMIs and Ubuntu AMIs; Amazon Linux uses ec2-user


# --- command-line shorthand → EC2 filters (pure) ------------------------------------------

def parse_tag_args(tags: Sequence[str]) -> list[dict]:
    """["Project=exp1", "Role=gpu", "Role=cpu"] → EC2 filters. The same key twice means
    either value (EC2 ORs a filter's Values); different keys must all match."""
    by_key: dict[str, list[str]] = {}
    for t in tags:
        key, sep, value = t.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag {t!r}: expected Key=Value, e.g. --tag Project=exp1")
        by_key.setdefault(key, []).append(value)
    return [{"Name": f"tag:{k}", "Values": v} for k, v in by_key.items()]


_FILTER = re.compile(r"^Name=(?P<name>[^,]+),Values=(?P<values>.*)$")


def parse_filter_args(filters: Sequence[str]) -> list[dict]:
    """AWS CLI shorthand "Name=instance-type,Values=g4dn.xlarge,c5.xlarge" → EC2 filters."""
    out = []
    for f in filters:
        m = _FILTER.match(f.strip())
        values = [v for v in (m.group("values").split(",") if m else []) if v]
        if not m or not values:
            raise UsageError(f"--filter {f!r}: expected Name=<filter>,Values=<v1>[,<v2>…], "
                             "e.g. --filter Name=instance-type,Values=g4dn.xlarge")
        out.append({"Name": m.group("name"), "Values": values})
    return out


def instance_filters(tags: Sequence[str] = (), filters: Sequence[str] = ()) -> list[dict]:
    """Tag and extra filters, plus instance-state-name=running unless a state is given."""
    out = parse_tag_args(tags) + parse_filter_args(filters)
    if not any(f["Name"] == "instance-state-name" for f in out):
        out.append({"Name": "instance-state-name", "Values": ["running"]})
    return out


# --- API responses → inventory (pure) -----------------------------------------------------

@dataclass(frozen=True)
class DiscoverOptions:
    region: str
    use_private_ip: bool = False
    user: str = DEFAULT_USER
    key_dir: Optional[str] = None  # KeyName → <key_dir>/<KeyName>.pem


@dataclass
class Discovery:
    inventory: dict  # the YAML document: {"defaults": {...}, "hosts": [...]}
    notes: list[str] = field(default_factory=list)  # one line per thing the user should know
    facts: dict[str, InstanceFacts] = field(default_factory=dict)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _host_name(raw: str) -> str:
    # Host names become directories under runs/<id>/hosts/: keep them plain.
    name = _UNSAFE.sub("-", raw).strip("-.")
    return name or "host"


def _tags(inst: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in inst.get("Tags") or [] if "Key" in t}


def _address(inst: Mapping[str, Any], private: bool) -> Optional[str]:
    if private:
        return inst.get("PrivateIpAddress") or inst.get("PrivateDnsName") or None
    # The IP first: it works without DNS; the public DNS name when there is no IP field.
    return inst.get("PublicIpAddress") or inst.get("PublicDnsName") or None


def build_inventory(instances: Iterable[Mapping[str, Any]], facts: Mapping[str, InstanceFacts],
                    options: DiscoverOptions,
                    key_exists: Callable[[str], bool] = lambda p: Path(p).is_file()) -> Discovery:
    """DescribeInstances' instances (all pages, flattened) → inventory dict and notes."""
    notes: list[str] = []
    rows = []
    for inst in instances:
        iid = inst.get("InstanceId", "?")
        tags = _tags(inst)
        addr = _address(inst, options.use_private_ip)
        if not addr:
            kind = "private" if options.use_private_ip else "public"
            notes.append(f"instance {iid} ({tags.get('Name', 'no Name tag')}): no {kind} IP or DNS name; skipped"
                         + ("" if options.use_private_ip else " (use --use-private-ip from inside the VPC)"))
            continue
        rows.append((_host_name(tags.get("Name") or iid), iid, tags, addr, inst))

    # Name tags are often shared (every worker called "worker"): suffix those with the id.
    counts: dict[str, int] = {}
    for name, *_ in rows:
        counts[name] = counts.get(name, 0) + 1
    key_dir = Path(options.key_dir).expanduser().resolve() if options.key_dir else None
    hosts = []
    missing_keys: dict[str, list[str]] = {}  # key file → hosts; one note per key, not per host
    no_key_dir: dict[str, list[str]] = {}
    no_pair: list[str] = []
    for name, iid, tags, addr, inst in sorted(rows, key=lambda r: (r[0], r[1])):
        if counts[name] > 1:
            name = f"{name}-{iid}"
        itype = inst.get("InstanceType")
        host: dict[str, Any] = {"name": name, "address": addr}
        key_name = inst.get("KeyName")
        if key_name and key_dir is not None:
            # Absolute: the YAML goes to stdout, so we cannot know what it will be relative to.
            key = str(key_dir / f"{key_name}.pem")
            host["key"] = key
            if not key_exists(key):
                missing_keys.setdefault(key, []).append(name)
        elif key_name:
            no_key_dir.setdefault(key_name, []).append(name)
        else:
            no_pair.append(name)
        if itype:
            host["instance_type"] = itype
        f = facts.get(itype) if itype else None
        if f is not None:
            host["slots"] = slots_for(f)
            host["gpus"] = f.gpus
        else:
            host["slots"] = 1
            notes.append(f"host {name}: no facts for instance type {itype}; slots set to 1, gpus unknown")
        placement = inst.get("Placement") or {}
        labels = {"instance_id": iid,
                  "az": placement.get("AvailabilityZone", ""),
                  "region": options.region,
                  "lifecycle": "spot" if inst.get("InstanceLifecycle") == "spot" else "on-demand",
                  "key_name": key_name or ""}
        labels.update({f"tag:{k}": v for k, v in sorted(tags.items())})
        host["labels"] = labels
        hosts.append(host)
    for key, names in missing_keys.items():
        notes.append(f"key file {key} not found (key pair {Path(key).stem!r} of host(s) {', '.join(names)}); "
                     "save the private key there, or edit 'key' in the inventory")
    for key_name, names in no_key_dir.items():
        notes.append(f"host(s) {', '.join(names)}: launched with key pair {key_name!r}; pass --key-dir DIR to use "
                     f"DIR/{key_name}.pem, else ssh uses your agent and default keys")
    if no_pair:
        notes.append(f"host(s) {', '.join(no_pair)}: launched without a key pair; ssh uses your agent and default keys")
    return Discovery(inventory={"defaults": {"user": options.user}, "hosts": hosts}, notes=notes,
                     facts=dict(facts))


def inventory_yaml(doc: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The inventory as YAML, with `header` lines as comments on top."""
    head = "".join(f"# {line}\n" for line in header)
    return head + yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False)


def flatten_reservations(pages: Iterable[Mapping[str, Any]]) -> list[dict]:
    """DescribeInstances pages → the instances, in order."""
    return [inst for page in pages for res in page.get("Reservations", []) for inst in res.get("Instances", [])]


# --- the caller ---------------------------------------------------------------------------

def describe_instances(ec2, filters: list[dict], page_size: Optional[int] = None) -> list[dict]:
    pager = ec2.get_paginator("describe_instances")
    cfg = {"PageSize": page_size} if page_size else {}
    return flatten_reservations(pager.paginate(Filters=filters, PaginationConfig=cfg))


def discover(settings: AwsSettings, tags: Sequence[str] = (), filters: Sequence[str] = (), *,
             use_private_ip: bool = False, user: str = DEFAULT_USER, key_dir: Optional[str] = None,
             page_size: Optional[int] = None) -> tuple[Discovery, str]:
    """Ask EC2 and build the inventory. Returns the discovery and its YAML text."""
    ec2_filters = instance_filters(tags, filters)
    session = make_session(settings)
    region = region_of(session, settings)
    ec2 = client("ec2", settings, session=session, region=region)
    with aws_errors(f"EC2 DescribeInstances in {region}"):
        instances = describe_instances(ec2, ec2_filters, page_size)
    if not instances:
        shown = ", ".join(f"{f['Name']}={','.join(f['Values'])}" for f in ec2_filters)
        raise HarnessError(f"no instances in {region} match {shown}; check --region and the tags "
                           "(instances must be running)")
    with aws_errors(f"EC2 DescribeInstanceTypes in {region}"):
        facts, notes = describe_instance_types(ec2, {i.get("InstanceType") for i in instances})
    found = build_inventory(instances, facts, DiscoverOptions(region, use_private_ip, user, key_dir))
    found.notes[:0] = notes
    if not found.inventory["hosts"]:
        raise HarnessError(f"{len(instances)} instance(s) matched but none has a usable address: "
                           + "; ".join(found.notes))
    shown = " ".join(f"{f['Name']}={','.join(f['Values'])}" for f in ec2_filters)
    header = [f"written by `harness hosts discover` at {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
              f"region {region}, filters: {shown}",
              f"{len(found.inventory['hosts'])} host(s); labels.instance_id is what `harness hosts start/stop` use"]
    return found, inventory_yaml(found.inventory, header)
