"""harness.aws.session: client creation, credentials only from boto3's chain, redaction."""

import logging

import pytest

from harness.aws import session as aws
from tests.support.aws_fixtures import FAKE_KEY_ID, FAKE_SECRET, aws_env, boto_client, closed_port_url, moto_server, no_credentials  # noqa: F401


def test_redact_removes_env_secrets_key_ids_and_signed_url_parts(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    text = (f"oops {FAKE_SECRET} key AKIAABCDEFGHIJKLMNOP in "
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA/2026&X-Amz-Signature=abc123&X-Amz-Security-Token=tok "
            'aws_secret_access_key = zzzzzzzzzzzzzzzz {"SessionToken": "sessiontokenvalue"}')
    out = aws.redact(text)
    for secret in (FAKE_SECRET, "AKIAABCDEFGHIJKLMNOP", "abc123", "=tok", "zzzzzzzzzzzzzzzz", "sessiontokenvalue"):
        assert secret not in out
    assert out.startswith("oops [redacted] key [redacted]")
    # Ordinary words that merely contain "credential"/"signature" are left alone.
    assert aws.redact("no usable AWS credentials; SignatureDoesNotMatch: x") == "no usable AWS credentials; SignatureDoesNotMatch: x"


def test_redacting_filter_cleans_records_of_every_logger(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    h = Keep()
    aws.install_log_redaction([h])
    aws.install_log_redaction([h])  # idempotent
    assert sum(isinstance(f, aws.RedactingFilter) for f in h.filters) == 1
    log = logging.getLogger("botocore.test-child")
    log.addHandler(h)
    log.setLevel(logging.DEBUG)
    try:
        log.debug("signing with %s", FAKE_SECRET)
    finally:
        log.removeHandler(h)
    assert records and FAKE_SECRET not in records[0] and "[redacted]" in records[0]


def test_client_goes_to_the_endpoint_from_env(aws_env):
    ec2 = aws.client("ec2", aws.AwsSettings(region="us-east-1"))
    assert ec2.meta.endpoint_url == aws_env
    assert ec2.describe_instances()["Reservations"] == []
    # The argument wins over the env.
    other = aws.client("ec2", aws.AwsSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    assert other.meta.endpoint_url == "http://127.0.0.1:9"
    # The Price List API is always asked in us-east-1, whatever the region.
    assert aws.pricing_client(aws.AwsSettings(region="eu-west-1")).meta.region_name == "us-east-1"


def test_no_credentials_is_a_clear_error(no_credentials):
    with pytest.raises(aws.AwsUnavailable, match="no AWS credentials found"):
        aws.client("ec2", aws.AwsSettings(region="us-east-1"))


def test_unknown_profile_is_a_clear_error(no_credentials):
    with pytest.raises(aws.AwsUnavailable, match="profile 'nope' not found"):
        aws.make_session(aws.AwsSettings(profile="nope"))


def test_no_region_is_a_clear_error(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(aws.AwsUnavailable, match="pass --region"):
        aws.client("ec2", aws.AwsSettings())


def test_aws_errors_turns_botocore_failures_into_redacted_harness_errors(aws_env):
    ec2 = aws.client("ec2", aws.AwsSettings(region="us-east-1", endpoint_url=closed_port_url(), max_attempts=1))
    with pytest.raises(aws.AwsError) as e:
        with aws.aws_errors("EC2 DescribeInstances"):
            ec2.describe_instances()
    msg = str(e.value)
    assert msg.startswith("EC2 DescribeInstances: AWS endpoint unreachable")
    assert FAKE_SECRET not in msg and FAKE_KEY_ID not in msg
    assert e.value.__cause__ is None  # no chained traceback carrying request details

    real = boto_client("ec2", aws_env)
    with pytest.raises(aws.AwsError, match="InvalidInstanceID"):
        with aws.aws_errors("EC2 StartInstances"):
            real.start_instances(InstanceIds=["i-0123456789abcdef0"])


def test_importing_the_aws_code_loads_neither_boto3_nor_tensorflow():
    # The control side must start fast and work without boto3 until an AWS command runs.
    import subprocess
    import sys

    code = ("import sys, harness.cli.hosts, harness.aws.discover, harness.prices.live, harness.aws.lifecycle, "
            "harness.aws.s3, harness.stages.resume, harness.aws.instance_types, harness.worker.spot_watch, "
            "harness.worker.s3_fetch; print(sorted(m for m in ('boto3', 'botocore', 'tensorflow') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
