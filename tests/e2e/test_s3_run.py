"""An s3:// dataset is fetched by every host itself before training, and the run directory
goes to an S3 prefix at the end; against moto's real HTTP server."""

import sys

import pytest
import yaml

from harness.cli import main
from tests.support.aws_fixtures import boto_client
from tests.support.datasets import write_cifar_batch

pytestmark = [pytest.mark.slow]


def test_s3_dataset_and_run_upload(aws_env, tmp_path, capsys):
    s3 = boto_client("s3", aws_env)
    s3.create_bucket(Bucket="data")
    s3.create_bucket(Bucket="results")
    local = tmp_path / "cifar"
    local.mkdir()
    write_cifar_batch(local / "data_batch_1", 96, 1)
    write_cifar_batch(local / "test_batch", 32, 2)
    for f in local.iterdir():
        s3.upload_file(str(f), "data", f"cifar/{f.name}")
    exp = {"name": "s3run", "sample_interval_s": 0,
           "workload": {"model": "mlp", "dataset": {"name": "cifar10", "path": "s3://data/cifar/"},
                        "batch_size": 16, "epochs": 1, "warmup_steps": 1},
           "configurations": [{"name": "one"}]}
    hosts = {"hosts": [{"name": "local", "transport": "local", "python": sys.executable,
                        "workdir": str(tmp_path / "work")}]}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(hosts))
    rc = main(["run", "-e", str(tmp_path / "e.yaml"), "--hosts", str(tmp_path / "h.yaml"), "--runs-dir",
               str(tmp_path / "runs"), "--run-id", "r", "--upload-to", "s3://results/exp1"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    control = (tmp_path / "runs" / "r" / "control.jsonl").read_text()
    assert '"event": "dataset_fetch"' in control and str(tmp_path / "work" / "s3-cache") in control
    assert "uploaded" in out.out and "s3://results/exp1/r/" in out.out
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="results")["Contents"]}
    assert "exp1/r/results.csv" in keys and "exp1/r/hosts/local/one/worker-0/events.jsonl" in keys
    # The credentials never reach the run's files.
    import os

    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    for f in (tmp_path / "runs" / "r").rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace")
