"""Fixtures for the AWS tests: moto's real HTTP server on loopback, fake credentials,
a recorded Price List response shape, and a fake IMDSv2 server. Nothing here reaches
beyond 127.0.0.1: the endpoint env points every client at moto, and the instance
metadata service is disabled for boto3's credential chain."""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# Recognisable fake credentials: tests assert these never show up in any output.
FAKE_KEY_ID = "AKIAHARNESSFAKE00001"
FAKE_SECRET = "hArNeSs/FaKe+SeCrEt/0123456789abcdefghijk"
AMI = "ami-12c6146b"  # any id: moto does not check images for run_instances


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    # Bound and released: nothing listens, so a connection is refused at once.
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _clean_aws_env(monkeypatch, tmp_path) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "HARNESS_AWS_", "HARNESS_IMDS")):
            monkeypatch.delenv(name, raising=False)
    # No real ~/.aws files and no instance metadata lookups (169.254.169.254) in tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # The instance ledger of `hosts start/stop/status` (harness/aws/ledger.py): this test's own.
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "harness-state"))


@pytest.fixture
def aws_env(monkeypatch, tmp_path, moto_server):
    """Fake credentials, region us-east-1 and every client pointed at a freshly reset moto."""
    _clean_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("HARNESS_AWS_ENDPOINT_URL", moto_server)
    urllib.request.urlopen(urllib.request.Request(moto_server + "/moto-api/reset", method="POST"), timeout=10).read()
    return moto_server


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """An environment where boto3's chain finds no credentials at all."""
    _clean_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def boto_client(service: str, endpoint: str, region: str = "us-east-1"):
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint)


def run_instance(ec2, instance_type: str, tags: dict[str, str], *, spot: bool = False, key_name: str = "exp1",
                 count: int = 1) -> list[str]:
    kw = dict(ImageId=AMI, MinCount=count, MaxCount=count, InstanceType=instance_type, KeyName=key_name,
              TagSpecifications=[{"ResourceType": "instance",
                                  "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    if spot:
        kw["InstanceMarketOptions"] = {"MarketType": "spot"}
    return [i["InstanceId"] for i in ec2.run_instances(**kw)["Instances"]]


# --- Price List API -----------------------------------------------------------------------
# One GetProducts result for g4dn.xlarge, Linux, shared tenancy, us-east-1, written after
# the offer file format of the AWS docs: each PriceList element is a JSON *string* whose
# terms hold OnDemand and Reserved offers; only OnDemand "Hrs" must be read. The numbers
# are the published on-demand ($0.526/h) and a 1-year reserved rate, for shape only.

G4DN_SKU = "H7NGEAC6UEHNTKSJ"


def g4dn_product(sku: str = G4DN_SKU, usd: str = "0.5260000000", operation: str = "RunInstances") -> dict:
    return {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "enhancedNetworkingSupported": "Yes", "intelTurboAvailable": "Yes", "memory": "16 GiB",
                "dedicatedEbsThroughput": "Up to 3500 Mbps", "vcpu": "4", "classicnetworkingsupport": "false",
                "capacitystatus": "Used", "locationType": "AWS Region", "storage": "1 x 125 NVMe SSD",
                "instanceFamily": "GPU instance", "operatingSystem": "Linux", "intelAvx2Available": "Yes",
                "regionCode": "us-east-1", "physicalProcessor": "Intel Xeon Family", "clockSpeed": "2.5 GHz",
                "ecu": "NA", "networkPerformance": "Up to 25 Gigabit", "servicename": "Amazon Elastic Compute Cloud",
                "gpuMemory": "16 GiB", "vpcnetworkingsupport": "true", "instanceType": "g4dn.xlarge",
                "tenancy": "Shared", "usagetype": "BoxUsage:g4dn.xlarge", "normalizationSizeFactor": "8",
                "intelAvxAvailable": "Yes", "processorFeatures": "Intel AVX; Intel AVX2; Intel AVX512; Intel Turbo",
                "servicecode": "AmazonEC2", "licenseModel": "No License required", "currentGeneration": "Yes",
                "preInstalledSw": "NA", "location": "US East (N. Virginia)", "processorArchitecture": "64-bit",
                "marketoption": "OnDemand", "operation": operation, "availabilityzone": "NA", "gpu": "1",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {
                f"{sku}.JRTCKXETXF": {
                    "priceDimensions": {
                        f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                            "unit": "Hrs", "endRange": "Inf",
                            "description": f"${float(usd):g} per On Demand Linux g4dn.xlarge Instance Hour",
                            "appliesTo": [], "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7", "beginRange": "0",
                            "pricePerUnit": {"USD": usd},
                        }
                    },
                    "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": "JRTCKXETXF",
                    "termAttributes": {},
                }
            },
            "Reserved": {
                f"{sku}.4NA7Y494T4": {
                    "priceDimensions": {
                        f"{sku}.4NA7Y494T4.6YS6EN2CT7": {
                            "unit": "Hrs", "endRange": "Inf",
                            "description": "Linux/UNIX (Amazon VPC), g4dn.xlarge reserved instance applied",
                            "appliesTo": [], "rateCode": f"{sku}.4NA7Y494T4.6YS6EN2CT7", "beginRange": "0",
                            "pricePerUnit": {"USD": "0.3310000000"},
                        }
                    },
                    "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": "4NA7Y494T4",
                    "termAttributes": {"LeaseContractLength": "1yr", "OfferingClass": "standard",
                                       "PurchaseOption": "No Upfront"},
                }
            },
        },
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    }


def get_products_response(*products: dict, next_token: str | None = None) -> dict:
    resp = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(p) for p in products]}
    if next_token:
        resp["NextToken"] = next_token
    return resp


# --- IMDSv2 -------------------------------------------------------------------------------

class FakeImds:
    """The two IMDSv2 paths the spot watcher uses, with the real token rules: PUT
    /latest/api/token needs the TTL header; a GET without a valid token gets 401."""

    TOKEN = "AQAEAFakeImdsToken=="

    def __init__(self, notice_after: int = 1, notice: dict | None = None):
        self.notice_after = notice_after  # this many 404s before the notice appears
        self.notice = notice or {"action": "terminate", "time": "2026-11-22T08:22:00Z"}
        self.notice_gets = 0
        self.token_puts = 0
        self.unauthorized = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handler(self):
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                if self.path != "/latest/api/token":
                    return self._send(404)
                if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._send(400, b"missing X-aws-ec2-metadata-token-ttl-seconds")
                with imds.lock:
                    imds.token_puts += 1
                self._send(200, FakeImds.TOKEN.encode())

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") != FakeImds.TOKEN:
                    with imds.lock:
                        imds.unauthorized += 1
                    return self._send(401)
                if self.path != "/latest/meta-data/spot/instance-action":
                    return self._send(404)
                with imds.lock:
                    imds.notice_gets += 1
                    n = imds.notice_gets
                if n <= imds.notice_after:
                    return self._send(404, b"Not Found", "text/html")
                self._send(200, json.dumps(imds.notice).encode(), "application/json")

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_imds():
    with FakeImds(notice_after=1) as imds:
        yield imds
