"""Live prices at the start of a run: when to ask AWS, and a run never fails for it."""

from harness.config.inventory import Host
from harness.prices.for_run import fetch_for_run, region_of_hosts, wants_live_prices

EC2 = Host(name="a", address="198.51.100.1", instance_type="g4dn.xlarge",
           labels={"instance_id": "i-0abc", "az": "us-west-2b"})
LOCAL = Host(name="l", transport="local", instance_type="c7i.large")


def test_when_to_ask():
    assert wants_live_prices("auto", [LOCAL, EC2]) and not wants_live_prices("auto", [LOCAL])
    assert wants_live_prices("on", [LOCAL]) and not wants_live_prices("off", [EC2])
    assert region_of_hosts([LOCAL, EC2]) == "us-west-2" and region_of_hosts([LOCAL]) is None


def test_no_aws_means_catalog_with_a_reason(tmp_path, monkeypatch):
    # A dead local endpoint and no credentials: the answer is the catalog, and why.
    monkeypatch.setenv("HARNESS_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    out = fetch_for_run(tmp_path, [EC2])
    assert out["source"] == "catalog" and out["reason"]
    assert not (tmp_path / "prices.json").exists()


def test_instance_facts_stored_with_the_run_and_shown_in_the_report(aws_env, tmp_path):
    from harness.prices.for_run import fetch_facts_for_run
    from harness.report.write.sections import instance_facts_blocks

    out = fetch_facts_for_run(tmp_path, [EC2, EC2.model_copy(update={"name": "b", "instance_type": "c5.xlarge"})])
    assert out["stored"] and out["instance_types"] == ["c5.xlarge", "g4dn.xlarge"]
    blocks = instance_facts_blocks(tmp_path)
    table = blocks[-1]
    g4 = next(r for r in table.rows if r[0] == "g4dn.xlarge")
    assert g4[1] == "4" and g4[3] == "1" and "T4" in g4[4]


def test_instance_facts_without_aws_is_a_reason(no_credentials, tmp_path, monkeypatch):
    from harness.prices.for_run import fetch_facts_for_run

    monkeypatch.setenv("HARNESS_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    out = fetch_facts_for_run(tmp_path, [EC2])
    assert out["stored"] is False and out["reason"]
    assert not (tmp_path / "instance_facts.json").exists()
