"""Live prices: on-demand from the AWS Price List API (GetProducts), spot from EC2
DescribeSpotPriceHistory, cached per run as prices.json (the file the report reads):

    {"on_demand": {type: usd_per_hour}, "spot": {type: usd_per_hour},
     "spot_by_az": {type: {az: usd_per_hour}},
     "source": "aws price list api + describe_spot_price_history", "as_of": ISO time}

`spot[type]` is the CHEAPEST of the latest per-AZ prices, over the AZs where the
inventory's instances of that type run when those are known (else over every AZ of the
region); `spot_by_az` keeps every AZ's latest price so the choice can be checked.

When AWS cannot be reached or there are no credentials the fetch returns no document and
a reason; the report then uses the bundled catalog (harness/prices)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from harness.aws.session import (
    AwsError, AwsSettings, AwsUnavailable, client, describe_error, make_session, pricing_client,
)

PRICES_FILE = "prices.json"
SOURCE = "aws price list api + describe_spot_price_history"
SPOT_PRODUCT = "Linux/UNIX"

# Price List `location` values per region code. Regions not listed fall back to the
# `regionCode` attribute, which the EC2 price list also carries.
LOCATIONS = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)", "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)", "sa-east-1": "South America (Sao Paulo)",
    "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)", "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)", "eu-north-1": "EU (Stockholm)", "eu-south-1": "EU (Milan)",
    "ap-south-1": "Asia Pacific (Mumbai)", "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)", "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-southeast-1": "Asia Pacific (Singapore)", "ap-southeast-2": "Asia Pacific (Sydney)",
}


# --- Price List API (pure) ------------------------------------------------------------------

def product_filters(instance_type: str, region: str) -> list[dict]:
    """GetProducts filters for shared-tenancy Linux on-demand hours without pre-installed
    software; capacitystatus=Used excludes capacity-reservation line items."""
    where = ("location", LOCATIONS[region]) if region in LOCATIONS else ("regionCode", region)
    pairs = [("instanceType", instance_type), where, ("operatingSystem", "Linux"),
             ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used")]
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in pairs]


@dataclass(frozen=True)
class OnDemandOffer:
    sku: str
    instance_type: str
    usd_per_hour: float
    attributes: Mapping[str, str]


def parse_price_list_item(item: str | Mapping[str, Any]) -> list[OnDemandOffer]:
    """One GetProducts `PriceList` element (a JSON string) → its hourly USD on-demand offers."""
    doc = json.loads(item) if isinstance(item, str) else item
    product = doc.get("product") or {}
    attrs = product.get("attributes") or {}
    offers = []
    for term in ((doc.get("terms") or {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            if str(dim.get("unit", "")).lower() not in ("hrs", "hours", "hour"):
                continue
            try:
                usd = float((dim.get("pricePerUnit") or {}).get("USD"))
            except (TypeError, ValueError):
                continue
            if usd > 0:  # $0 dimensions are e.g. reserved-capacity placeholders
                offers.append(OnDemandOffer(sku=str(product.get("sku", "")),
                                            instance_type=str(attrs.get("instanceType", "")),
                                            usd_per_hour=usd, attributes=attrs))
    return offers


def choose_on_demand(instance_type: str, items: Iterable[str | Mapping[str, Any]]) -> tuple[Optional[float], list[str]]:
    """The on-demand $/h of `instance_type` among GetProducts results, and notes. Plain
    Linux (operation RunInstances) is preferred; if several prices remain, the lowest is
    taken and the others are named."""
    offers = [o for it in items for o in parse_price_list_item(it) if o.instance_type in ("", instance_type)]
    if not offers:
        return None, [f"{instance_type}: the Price List API returned no hourly on-demand Linux price"]
    plain = [o for o in offers if o.attributes.get("operation") in (None, "RunInstances")] or offers
    prices = sorted({o.usd_per_hour for o in plain})
    notes = []
    if len(prices) > 1:
        notes.append(f"{instance_type}: {len(prices)} on-demand prices matched "
                     f"({', '.join(f'${p:g}' for p in prices)}); took the lowest")
    return prices[0], notes


# --- spot price history (pure) --------------------------------------------------------------

def latest_spot_by_az(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """DescribeSpotPriceHistory `SpotPriceHistory` records → {type: {az: latest price}} for
    Linux/UNIX ("Linux/UNIX (Amazon VPC)" too: the same product on older accounts)."""
    latest: dict[tuple[str, str], tuple[Any, float]] = {}
    for r in records:
        if not str(r.get("ProductDescription", "")).startswith(SPOT_PRODUCT):
            continue
        try:
            price = float(r["SpotPrice"])
        except (KeyError, TypeError, ValueError):
            continue
        key = (r.get("InstanceType", ""), r.get("AvailabilityZone", ""))
        ts = _timestamp(r.get("Timestamp"))
        if key not in latest or ts > latest[key][0]:
            latest[key] = (ts, price)
    out: dict[str, dict[str, float]] = {}
    for (itype, az), (_, price) in sorted(latest.items()):
        out.setdefault(itype, {})[az] = price
    return out


def _timestamp(v: Any) -> float:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return float(v or 0)


def spot_summary(by_az: Mapping[str, Mapping[str, float]],
                 azs_by_type: Optional[Mapping[str, Iterable[str]]] = None) -> tuple[dict[str, float], list[str]]:
    """{type: cheapest latest price} over the type's own AZs (when given and priced) or over
    all AZs, and a note saying which AZs and what the mean was."""
    spot, notes = {}, []
    for itype, prices in sorted(by_az.items()):
        if not prices:
            continue
        own = set((azs_by_type or {}).get(itype) or ())
        pool = {az: p for az, p in prices.items() if az in own} or dict(prices)
        az, best = min(pool.items(), key=lambda kv: (kv[1], kv[0]))
        spot[itype] = best
        which = "the inventory's AZs" if own and set(pool) <= own else "all AZs"
        mean = sum(pool.values()) / len(pool)
        notes.append(f"{itype}: spot ${best:g}/h = cheapest latest price over {which} "
                     f"({len(pool)}; {az}); mean ${mean:.4g}/h")
    return spot, notes


def prices_document(on_demand: Mapping[str, float], spot: Mapping[str, float],
                    spot_by_az: Mapping[str, Mapping[str, float]], as_of: Optional[str] = None) -> dict:
    return {"on_demand": dict(sorted(on_demand.items())), "spot": dict(sorted(spot.items())),
            "spot_by_az": {t: dict(sorted(v.items())) for t, v in sorted(spot_by_az.items())},
            "source": SOURCE,
            "as_of": as_of or datetime.now(timezone.utc).isoformat(timespec="seconds")}


# --- callers --------------------------------------------------------------------------------

def fetch_on_demand(pricing, instance_types: Iterable[str], region: str) -> tuple[dict[str, float], list[str]]:
    out, notes = {}, []
    pager = pricing.get_paginator("get_products")
    for itype in sorted(set(instance_types)):
        items = []
        for page in pager.paginate(ServiceCode="AmazonEC2", FormatVersion="aws_v1",
                                   Filters=product_filters(itype, region)):
            items.extend(page.get("PriceList", []))
        price, n = choose_on_demand(itype, items)
        notes.extend(n)
        if price is not None:
            out[itype] = price
    return out, notes


def fetch_spot_by_az(ec2, instance_types: Iterable[str]) -> dict[str, dict[str, float]]:
    """Latest Linux/UNIX spot price per AZ. StartTime=now makes EC2 return the price in
    effect now for each AZ instead of up to 90 days of history."""
    pager = ec2.get_paginator("describe_spot_price_history")
    records = []
    for page in pager.paginate(InstanceTypes=sorted(set(instance_types)), ProductDescriptions=[SPOT_PRODUCT],
                               StartTime=datetime.now(timezone.utc)):
        records.extend(page.get("SpotPriceHistory", []))
    return latest_spot_by_az(records)


@dataclass
class LivePriceResult:
    prices: Optional[dict]  # the prices.json document; None when nothing could be fetched
    reason: str = ""  # why `prices` is None
    notes: list[str] = field(default_factory=list)
    cached: bool = False


def fetch_live_prices(instance_types: Iterable[str], settings: AwsSettings, *,
                      azs_by_type: Optional[Mapping[str, Iterable[str]]] = None,
                      pricing=None, ec2=None) -> LivePriceResult:
    """On-demand and spot prices of `instance_types` in the settings' region. Never raises
    for AWS trouble: an unusable AWS gives prices None and the reason."""
    types = sorted({t for t in instance_types if t})
    if not types:
        return LivePriceResult(None, "no instance types to price")
    try:
        session = None if (pricing is not None and ec2 is not None) else make_session(settings)
        region = settings.region or (session.region_name if session else None)
        if not region:
            raise AwsUnavailable("no AWS region: pass --region (or set AWS_DEFAULT_REGION)")
        pricing = pricing or pricing_client(settings, session=session)
        ec2 = ec2 or client("ec2", settings, session=session, region=region)
    except AwsError as e:
        return LivePriceResult(None, str(e))
    notes: list[str] = []
    problems: list[str] = []
    on_demand: dict[str, float] = {}
    try:
        on_demand, n = fetch_on_demand(pricing, types, region)
        notes += n
    except Exception as e:  # any failure here only loses the live on-demand prices
        problems.append(f"on-demand prices (Price List API): {describe_error(e)}")
    by_az: dict[str, dict[str, float]] = {}
    try:
        by_az = fetch_spot_by_az(ec2, types)
    except Exception as e:
        problems.append(f"spot prices (DescribeSpotPriceHistory in {region}): {describe_error(e)}")
    spot, n = spot_summary(by_az, azs_by_type)
    notes += n
    missing = [t for t in types if t not in spot]
    if by_az or not problems:
        notes += [f"{t}: no spot price history in {region}" for t in missing]
    if not on_demand and not spot:
        return LivePriceResult(None, "; ".join(problems) or f"AWS returned no prices for {', '.join(types)}", notes)
    return LivePriceResult(prices_document(on_demand, spot, by_az), "", problems + notes)


def write_prices(run_dir: str | Path, doc: Mapping[str, Any]) -> Path:
    path = Path(run_dir) / PRICES_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # the report never sees half a file
    return path


def read_prices(run_dir: str | Path) -> Optional[dict]:
    path = Path(run_dir) / PRICES_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def prices_for_run(run_dir: str | Path, instance_types: Sequence[str], settings: AwsSettings,
                   **kw) -> LivePriceResult:
    """The run's prices.json when it already prices every type (the per-run cache), else
    fetch, merge into it and write it. Without AWS the run keeps whatever it had."""
    types = sorted({t for t in instance_types if t})
    cached = read_prices(run_dir)
    if cached and all(t in (cached.get("on_demand") or {}) for t in types):
        return LivePriceResult(cached, "", [f"{PRICES_FILE} of this run (as of {cached.get('as_of')})"], cached=True)
    result = fetch_live_prices(types, settings, **kw)
    if result.prices is None:
        return result
    doc = result.prices
    if cached:
        for key in ("on_demand", "spot", "spot_by_az"):
            doc[key] = {**(cached.get(key) or {}), **doc[key]}
    write_prices(run_dir, doc)
    return result
