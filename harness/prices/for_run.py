"""At the start of a run on EC2 hosts, fetch live prices into the run's prices.json (the
report prefers them to the bundled catalog) and the instance types' facts into
instance_facts.json. Never fails a run: without credentials or network the report says it
used the catalog, and why."""

from __future__ import annotations

from pathlib import Path

from harness.config.inventory import Host


def wants_live_prices(mode: str, hosts: list[Host]) -> bool:
    """auto: only when some host came from EC2 discovery (has labels.instance_id)."""
    if mode == "off":
        return False
    return mode == "on" or any("instance_id" in h.labels for h in hosts)


def region_of_hosts(hosts: list[Host]) -> str | None:
    for h in hosts:
        az = h.labels.get("az")
        if az and az[-1].isalpha():
            return az[:-1]   # us-east-1a -> us-east-1
    return None


def fetch_for_run(run_dir: Path, hosts: list[Host]) -> dict:
    """Returns the fields of the control log's `prices` event."""
    try:
        from harness.prices.live import prices_for_run
        from harness.aws.session import AwsSettings
    except ImportError as e:
        return {"source": "catalog", "reason": f"AWS support not installed ({e.name}); pip install 'harness[aws]'"}
    types = sorted({h.instance_type for h in hosts if h.instance_type})
    azs: dict[str, set[str]] = {}
    for h in hosts:
        if h.instance_type and h.labels.get("az"):
            azs.setdefault(h.instance_type, set()).add(h.labels["az"])
    result = prices_for_run(run_dir, types, AwsSettings(region=region_of_hosts(hosts)), azs_by_type=azs or None)
    if result.prices is None:
        return {"source": "catalog", "reason": result.reason}
    return {"source": result.prices.get("source"), "as_of": result.prices.get("as_of"), "cached": result.cached,
            "notes": list(result.notes)}


def fetch_facts_for_run(run_dir: Path, hosts: list[Host]) -> dict:
    """DescribeInstanceTypes for the hosts' types → instance_facts.json; the control log's
    `instance_facts` event fields."""
    try:
        from harness.aws.instance_types import describe_instance_types, write_instance_facts
        from harness.aws.session import AwsError, AwsSettings, client
    except ImportError as e:
        return {"stored": False, "reason": f"AWS support not installed ({e.name})"}
    types = sorted({h.instance_type for h in hosts if h.instance_type})
    region = region_of_hosts(hosts)
    try:
        facts, notes = describe_instance_types(client("ec2", AwsSettings(region=region)), types)
    except AwsError as e:
        return {"stored": False, "reason": str(e)}
    write_instance_facts(run_dir, facts, region)
    return {"stored": True, "instance_types": sorted(facts), "notes": list(notes)}
