"""The bundled price catalog and the rules that choose a host's price (harness.prices)."""

import csv
from importlib import resources
from pathlib import Path

import pytest

from harness.prices import (
    CATALOG_FILE, LivePrices, load_catalog, parse_catalog, parse_live_prices, resolve_host_price,
)

# A copy of the project's reference price table (shared/data/ec2-us-east-1.csv, with its
# sources in shared/data/README.md), kept in the repository so the check never skips.
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "ec2-us-east-1.csv"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_catalog_is_package_data_with_source_and_date(catalog):
    assert resources.files("harness.prices").joinpath(CATALOG_FILE).is_file()
    assert catalog.name == CATALOG_FILE and len(catalog.entries) >= 25
    t4 = catalog.get("g4dn.xlarge")
    assert (t4.vcpus, t4.gpus, t4.gpu_model, t4.on_demand_usd_per_hour) == (4, 1, "Tesla T4", 0.526)
    assert (t4.source, t4.as_of) == ("public price tables", "2026-11")
    assert catalog.get("c5.xlarge").gpu_model is None
    # list prices that were recalled rather than read keep their "verify" note
    assert catalog.get("c5.2xlarge").source == "recalled list price (verify)"
    assert all(e.as_of == "2026-11" and e.source for e in catalog.entries.values())
    for family in ("g4dn.", "g5.", "p3.", "p2.", "g3s.", "c5.", "c6i.", "c7i.", "m5."):
        assert any(t.startswith(family) for t in catalog.entries), family


def test_catalog_matches_the_reference_data(catalog):
    rows = list(csv.DictReader(REFERENCE.open()))
    assert set(r["instance_type"] for r in rows) <= set(catalog.entries)
    for r in rows:
        e = catalog.get(r["instance_type"])
        assert e.on_demand_usd_per_hour == float(r["on_demand_usd_per_hour"])
        assert (e.vcpus, e.gpus, e.gpu_model or "") == (int(r["vcpus"]), int(r["gpus"]), r["gpu_model"])
        assert e.source == r["price_source"]


def test_parse_catalog_rejects_bad_files(tmp_path):
    with pytest.raises(ValueError, match="missing column"):
        parse_catalog("instance_type,vcpus\nx,1\n", "bad.csv")
    head = "instance_type,vcpus,gpus,gpu_model,on_demand_usd_per_hour,source,as_of\n"
    with pytest.raises(ValueError, match="bad.csv line 2"):
        parse_catalog(head + "x.large,4,0,,cheap,s,2026-11\n", "bad.csv")
    path = tmp_path / "mine.csv"
    path.write_text(head + "x.large,4,0,,0.5,my table,2026-12\n")
    mine = load_catalog(path)
    assert mine.name == "mine.csv" and mine.get("x.large").on_demand_usd_per_hour == 0.5


def test_live_prices_keep_valid_entries_and_say_what_was_skipped():
    live, notes = parse_live_prices({"on_demand": {"g5.xlarge": 1.0, "bad": -1},
                                     "spot": {"g5.xlarge": 0.35, "p3.2xlarge": "x", "t": True},
                                     "source": "DescribeSpotPriceHistory us-east-1a", "as_of": "2026-11-21"})
    assert live.on_demand == {"g5.xlarge": 1.0} and live.spot == {"g5.xlarge": 0.35}
    assert (live.source, live.as_of) == ("DescribeSpotPriceHistory us-east-1a", "2026-11-21")
    assert notes == ["on_demand.bad: -1 is not a price in USD per hour; ignored",
                     "spot.p3.2xlarge: 'x' is not a price in USD per hour; ignored",
                     "spot.t: True is not a price in USD per hour; ignored"]
    assert parse_live_prices([1, 2]) == (None, ["not a JSON object; ignored"])
    live, notes = parse_live_prices({"spot": "none"})
    assert live.spot == {} and live.source == "prices.json" and notes == ["spot: not an object; ignored"]


LIVE = LivePrices(on_demand={"g4dn.xlarge": 0.5}, spot={"g4dn.xlarge": 0.16}, source="live", as_of="today")


def test_on_demand_inventory_then_live_then_catalog(catalog):
    inv = {"name": "g1", "instance_type": "g4dn.xlarge", "price_per_hour": 0.4}
    p = resolve_host_price("g1", "g4dn.xlarge", inv, LIVE, catalog)
    assert (p.on_demand.usd_per_hour, p.on_demand.source) == (0.4, "inventory price_per_hour of host g1")
    p = resolve_host_price("g1", "g4dn.xlarge", {"price_per_hour": None}, LIVE, catalog)
    assert (p.on_demand.usd_per_hour, p.on_demand.source) == (0.5, "prices.json on_demand g4dn.xlarge (live, today)")
    p = resolve_host_price("g1", "g4dn.xlarge", None, None, catalog)
    assert p.on_demand.usd_per_hour == 0.526
    assert p.on_demand.source == "catalog catalog-us-east-1.csv: g4dn.xlarge, public price tables, as of 2026-11"
    # the instance type comes from the inventory when the control record has none
    p = resolve_host_price("g1", None, {"instance_type": "c5.xlarge"}, None, catalog)
    assert (p.instance_type, p.on_demand.usd_per_hour) == ("c5.xlarge", 0.17)


def test_spot_only_from_inventory_or_live_prices(catalog):
    p = resolve_host_price("g1", "g4dn.xlarge", {"spot_price_per_hour": 0.2}, LIVE, catalog)
    assert (p.spot.usd_per_hour, p.spot.source) == (0.2, "inventory spot_price_per_hour of host g1")
    p = resolve_host_price("g1", "g4dn.xlarge", {}, LIVE, catalog)
    assert (p.spot.usd_per_hour, p.spot.source) == (0.16, "prices.json spot g4dn.xlarge (live, today)")
    # no constant discount off the catalog price: unknown stays unknown, with the reason
    p = resolve_host_price("g1", "g4dn.xlarge", {}, None, catalog)
    assert p.spot.usd_per_hour is None and not p.spot.known
    assert p.spot.reason == "host g1: no spot_price_per_hour in the inventory and no prices.json in the run directory"
    p = resolve_host_price("g5", "g5.xlarge", {}, LIVE, catalog)
    assert p.spot.reason == ("host g5: no spot_price_per_hour in the inventory and prices.json has "
                             "no spot price for g5.xlarge")


def test_unknown_on_demand_price_says_why(catalog):
    p = resolve_host_price("h", "x9.weird", {}, None, catalog)
    assert p.on_demand.usd_per_hour is None
    assert p.on_demand.reason == "host h: x9.weird: no catalog price; pass price_per_hour or use live prices"
    p = resolve_host_price("h", "x9.weird", {}, LIVE, catalog)
    assert p.on_demand.reason == ("host h: x9.weird: no catalog price (prices.json has none either); "
                                  "pass price_per_hour or use live prices")
    p = resolve_host_price("h", None, None, None, catalog)
    assert p.on_demand.reason == "host h: no price_per_hour and no instance_type in the inventory"
