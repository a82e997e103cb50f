"""harness.prices.live: the Price List API through botocore's Stubber (moto does not
implement it), spot price history against moto, the prices.json cache, and failures."""

import copy
import json
from datetime import datetime, timedelta, timezone

from botocore.stub import Stubber

from harness.prices import live as prices
from harness.aws.session import AwsSettings, client, pricing_client
from harness.prices import parse_live_prices
from tests.support.aws_fixtures import (  # noqa: F401
    aws_env, closed_port_url, g4dn_product, get_products_response, moto_server, no_credentials,
)


def _expected_params(itype="g4dn.xlarge"):
    return {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": prices.product_filters(itype, "us-east-1")}


def test_product_filters_are_the_documented_ones():
    f = {x["Field"]: x["Value"] for x in prices.product_filters("g4dn.xlarge", "us-east-1")}
    assert f == {"instanceType": "g4dn.xlarge", "location": "US East (N. Virginia)", "operatingSystem": "Linux",
                 "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
    assert all(x["Type"] == "TERM_MATCH" for x in prices.product_filters("c5.xlarge", "us-east-1"))
    # a region without a known location name falls back to the regionCode attribute
    assert {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "xx-new-1"} in prices.product_filters("c5.xlarge", "xx-new-1")


def test_parse_price_list_reads_on_demand_hours_only():
    item = json.dumps(g4dn_product())
    offers = prices.parse_price_list_item(item)
    assert [(o.sku, o.instance_type, o.usd_per_hour) for o in offers] == [("H7NGEAC6UEHNTKSJ", "g4dn.xlarge", 0.526)]
    assert prices.choose_on_demand("g4dn.xlarge", [item]) == (0.526, [])
    # plain RunInstances wins over another operation; two plain prices → lowest, with a note
    other = json.dumps(g4dn_product("OTHERSKU", "0.9000000000", "RunInstances:0010"))
    assert prices.choose_on_demand("g4dn.xlarge", [other, item]) == (0.526, [])
    cheaper = json.dumps(g4dn_product("CHEAPSKU", "0.5000000000"))
    price, notes = prices.choose_on_demand("g4dn.xlarge", [item, cheaper])
    assert price == 0.5 and "2 on-demand prices matched ($0.5, $0.526); took the lowest" in notes[0]
    zero = g4dn_product()
    dim = next(iter(next(iter(zero["terms"]["OnDemand"].values()))["priceDimensions"].values()))
    dim["pricePerUnit"]["USD"] = "0.0000000000"
    assert prices.choose_on_demand("g4dn.xlarge", [json.dumps(zero)])[0] is None


def test_latest_spot_per_az_and_summary():
    t0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
    rec = lambda az, price, minutes, desc="Linux/UNIX", itype="g4dn.xlarge": {  # noqa: E731
        "AvailabilityZone": az, "InstanceType": itype, "ProductDescription": desc, "SpotPrice": price,
        "Timestamp": t0 + timedelta(minutes=minutes)}
    records = [rec("us-east-1a", "0.2000", 0), rec("us-east-1a", "0.2500", 30), rec("us-east-1b", "0.1800", 10),
               rec("us-east-1b", "0.9000", 40, desc="Windows"), rec("us-east-1c", "0.3000", 5, desc="Linux/UNIX (Amazon VPC)"),
               rec("us-east-1c", "bad", 50)]
    by_az = prices.latest_spot_by_az(records)
    assert by_az == {"g4dn.xlarge": {"us-east-1a": 0.25, "us-east-1b": 0.18, "us-east-1c": 0.3}}
    spot, notes = prices.spot_summary(by_az)
    assert spot == {"g4dn.xlarge": 0.18} and "cheapest latest price over all AZs (3; us-east-1b)" in notes[0]
    spot, notes = prices.spot_summary(by_az, {"g4dn.xlarge": {"us-east-1a"}})
    assert spot == {"g4dn.xlarge": 0.25} and "over the inventory's AZs" in notes[0]


def test_live_prices_from_stubbed_price_list_and_moto_spot(aws_env, tmp_path):
    settings = AwsSettings(region="us-east-1")
    pricing = pricing_client(settings)
    ec2 = client("ec2", settings)
    page2 = copy.deepcopy(g4dn_product("SECONDSKU", "0.5260000000"))
    with Stubber(pricing) as stub:
        # types are asked in sorted order; g4dn's answer has two pages: NextToken must be followed
        stub.add_response("get_products", get_products_response(), _expected_params("c5.xlarge"))
        stub.add_response("get_products", get_products_response(g4dn_product(), next_token="page2"), _expected_params())
        stub.add_response("get_products", get_products_response(page2), {**_expected_params(), "NextToken": "page2"})
        result = prices.fetch_live_prices(["g4dn.xlarge", "c5.xlarge"], settings, pricing=pricing, ec2=ec2)
        stub.assert_no_pending_responses()
    doc = result.prices
    assert doc is not None and result.reason == ""
    assert set(doc) == {"on_demand", "spot", "spot_by_az", "source", "as_of"}
    assert doc["source"] == "aws price list api + describe_spot_price_history"
    assert doc["on_demand"] == {"g4dn.xlarge": 0.526}
    assert "c5.xlarge: the Price List API returned no hourly on-demand Linux price" in result.notes
    # moto's synthetic history: one latest price per AZ per type; spot is the cheapest of them
    for itype in ("g4dn.xlarge", "c5.xlarge"):
        azs = doc["spot_by_az"][itype]
        assert azs and all(az.startswith("us-east-1") for az in azs)
        assert doc["spot"][itype] == min(azs.values())
    datetime.fromisoformat(doc["as_of"])
    live, problems = parse_live_prices(doc)  # the report's reader accepts it as is
    assert problems == [] and live.on_demand["g4dn.xlarge"] == 0.526

    # per-run cache: written once, then read back without asking AWS again
    path = prices.write_prices(tmp_path, doc)
    assert json.loads(path.read_text()) == doc
    cached = prices.prices_for_run(tmp_path, ["g4dn.xlarge"], settings, pricing=object(), ec2=object())
    assert cached.cached and cached.prices == doc


def test_prices_for_run_fetches_and_merges_missing_types(aws_env, tmp_path):
    settings = AwsSettings(region="us-east-1")
    prices.write_prices(tmp_path, prices.prices_document({"c5.xlarge": 0.17}, {}, {}, as_of="2026-11-01T00:00:00+00:00"))
    pricing = pricing_client(settings)
    with Stubber(pricing) as stub:
        stub.add_response("get_products", get_products_response(g4dn_product()), _expected_params())
        result = prices.prices_for_run(tmp_path, ["g4dn.xlarge"], settings, pricing=pricing, ec2=client("ec2", settings))
    assert not result.cached
    doc = prices.read_prices(tmp_path)
    assert doc["on_demand"] == {"c5.xlarge": 0.17, "g4dn.xlarge": 0.526}


def test_no_credentials_gives_none_and_a_reason(no_credentials):
    result = prices.fetch_live_prices(["g4dn.xlarge"], AwsSettings(region="us-east-1"))
    assert result.prices is None and "no AWS credentials found" in result.reason


def test_unreachable_endpoint_gives_none_and_a_reason(aws_env):
    settings = AwsSettings(region="us-east-1", endpoint_url=closed_port_url(), max_attempts=1)
    result = prices.fetch_live_prices(["g4dn.xlarge"], settings)
    assert result.prices is None
    assert "on-demand prices (Price List API): AWS endpoint unreachable" in result.reason
    assert "spot prices (DescribeSpotPriceHistory in us-east-1): AWS endpoint unreachable" in result.reason


def test_price_list_error_keeps_spot_prices(aws_env):
    # moto answers GetProducts with HTTP 500: on-demand is lost, spot still comes back.
    settings = AwsSettings(region="us-east-1", max_attempts=1)
    result = prices.fetch_live_prices(["c5.xlarge"], settings)
    assert result.prices is not None and result.prices["on_demand"] == {}
    assert result.prices["spot"]["c5.xlarge"] > 0
    assert any(n.startswith("on-demand prices (Price List API):") for n in result.notes)


def test_stubbed_access_denied_is_reported(aws_env):
    settings = AwsSettings(region="us-east-1")
    pricing = pricing_client(settings)
    ec2 = client("ec2", settings)
    with Stubber(pricing) as ps, Stubber(ec2) as es:
        ps.add_client_error("get_products", "AccessDeniedException", "User is not authorized to perform: pricing:GetProducts")
        es.add_client_error("describe_spot_price_history", "UnauthorizedOperation", "not authorized", expected_params=None)
        result = prices.fetch_live_prices(["g4dn.xlarge"], settings, pricing=pricing, ec2=ec2)
    assert result.prices is None
    assert "AccessDeniedException" in result.reason and "lacks a permission" in result.reason
    assert "UnauthorizedOperation" in result.reason


def test_no_types_means_nothing_to_fetch():
    assert prices.fetch_live_prices([None, ""], AwsSettings()).reason == "no instance types to price"
