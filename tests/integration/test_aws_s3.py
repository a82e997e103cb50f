"""S3: the host-side fetcher (harness/worker/s3_fetch.py) and the control-side uploads,
against moto's server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.aws import s3 as s3mod
from harness.aws.session import AwsSettings
from harness.errors import UsageError
from harness.worker import s3_fetch
from tests.support.aws_fixtures import FAKE_SECRET, aws_env, boto_client, moto_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
BUCKET = "harness-data"


@pytest.fixture
def bucket(aws_env):
    s3 = boto_client("s3", aws_env)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="digits/train.csv", Body=b"a,b\n1,2\n" * 1000)
    s3.put_object(Bucket=BUCKET, Key="cifar/batches/data_batch_1", Body=b"x" * 3000)
    s3.put_object(Bucket=BUCKET, Key="cifar/batches/meta/batches.meta", Body=b"meta")
    s3.put_object(Bucket=BUCKET, Key="cifar/batches/", Body=b"")  # a console "folder" marker
    return s3


def test_fetch_object_once_then_from_cache(bucket, tmp_path):
    first = s3_fetch.fetch(f"s3://{BUCKET}/digits/train.csv", tmp_path, bucket)
    assert first.downloaded and first.path.name == "train.csv" and first.bytes == 8000
    assert first.path.read_bytes() == b"a,b\n1,2\n" * 1000
    etag = bucket.head_object(Bucket=BUCKET, Key="digits/train.csv")["ETag"].strip('"')
    assert first.path.parent.name == etag  # keyed by ETag
    again = s3_fetch.fetch(f"s3://{BUCKET}/digits/train.csv", tmp_path, bucket)
    assert not again.downloaded and again.path == first.path
    # a damaged cache entry (wrong size) is downloaded again
    first.path.write_bytes(b"short")
    fixed = s3_fetch.fetch(f"s3://{BUCKET}/digits/train.csv", tmp_path, bucket)
    assert fixed.downloaded and fixed.path.stat().st_size == 8000
    # new content → new ETag → new cache entry
    bucket.put_object(Bucket=BUCKET, Key="digits/train.csv", Body=b"new")
    new = s3_fetch.fetch(f"s3://{BUCKET}/digits/train.csv", tmp_path, bucket)
    assert new.downloaded and new.path != first.path and new.path.read_bytes() == b"new"
    assert not [p for p in tmp_path.rglob("*.part")]


def test_fetch_prefix_as_a_folder(bucket, tmp_path):
    got = s3_fetch.fetch(f"s3://{BUCKET}/cifar/batches/", tmp_path, bucket)
    assert got.downloaded and got.bytes == 3004
    assert (got.path / "data_batch_1").stat().st_size == 3000
    assert (got.path / "meta" / "batches.meta").read_bytes() == b"meta"
    assert not s3_fetch.fetch(f"s3://{BUCKET}/cifar/batches/", tmp_path, bucket).downloaded
    with pytest.raises(s3_fetch.FetchError, match="no objects under this prefix"):
        s3_fetch.fetch(f"s3://{BUCKET}/nothing/", tmp_path, bucket)
    bucket.put_object(Bucket=BUCKET, Key="evil/../../escape", Body=b"x")
    with pytest.raises(s3_fetch.FetchError, match="not a plain relative path"):
        s3_fetch.fetch(f"s3://{BUCKET}/evil/", tmp_path, bucket)


def _run_fetch(args, env_extra=None, script=False):
    env = {k: v for k, v in os.environ.items()}
    env.update(env_extra or {})
    cmd = [sys.executable, str(REPO / "harness/worker/s3_fetch.py")] if script else \
        [sys.executable, "-m", "harness.worker.s3_fetch"]
    return subprocess.run(cmd + args, capture_output=True, text=True, cwd=REPO, env=env, timeout=60)


def test_fetch_script_on_a_host(bucket, tmp_path):
    # as the launcher would run it, and as a copied stand-alone script
    for script in (False, True):
        r = _run_fetch([f"s3://{BUCKET}/digits/train.csv", "--cache-dir", str(tmp_path)], script=script)
        assert r.returncode == 0, r.stderr
        path = s3mod.local_path_from_output(r.stdout)
        assert Path(path).read_bytes() == b"a,b\n1,2\n" * 1000
        assert ("downloaded" if not script else "cached") in r.stderr
    missing = _run_fetch([f"s3://{BUCKET}/digits/none.csv", "--cache-dir", str(tmp_path)])
    assert missing.returncode == s3_fetch.EXIT_S3 and "no such object" in missing.stderr
    bad = _run_fetch(["https://example.org/x", "--cache-dir", str(tmp_path)])
    assert bad.returncode == s3_fetch.EXIT_USAGE and "expected s3://bucket/key" in bad.stderr
    for r in (missing, bad):
        assert FAKE_SECRET not in r.stdout + r.stderr


def test_fetch_script_without_boto3_says_so(tmp_path):
    fake = tmp_path / "site"
    (fake / "boto3").mkdir(parents=True)
    (fake / "boto3" / "__init__.py").write_text("raise ImportError('No module named boto3')\n")
    r = _run_fetch(["s3://bucket-x/k", "--cache-dir", str(tmp_path / "c")], {"PYTHONPATH": str(fake)}, script=True)
    assert r.returncode == s3_fetch.EXIT_NO_BOTO3
    assert "boto3 is not installed on this host: `pip install boto3`" in r.stderr


def test_uri_helpers():
    assert s3mod.parse_s3_uri("s3://my-bucket/a/b.csv") == ("my-bucket", "a/b.csv")
    assert s3mod.parse_s3_uri("s3://my-bucket") == ("my-bucket", "")
    for bad in ("s3://", "http://x/y", "s3://UPPER/x"):
        with pytest.raises(UsageError, match="not an S3 URI"):
            s3mod.parse_s3_uri(bad)
    assert s3mod.fetch_command("/opt/py", "s3://b-b/k", "/tmp/c", "eu-west-1") == [
        "/opt/py", "-m", "harness.worker.s3_fetch", "s3://b-b/k", "--cache-dir", "/tmp/c", "--region", "eu-west-1"]
    assert s3mod.local_path_from_output("noise\n/tmp/c/x/train.csv\n\n") == "/tmp/c/x/train.csv"


def test_upload_run_dir_and_checkpoint(bucket, tmp_path):
    run = tmp_path / "cifar10-20261122-abc"
    (run / "hosts" / "gpu-a").mkdir(parents=True)
    (run / "report.md").write_text("# report")
    (run / "hosts" / "gpu-a" / "events.jsonl").write_text("{}\n")
    s3 = s3mod.s3_client(AwsSettings(region="us-east-1"))
    up = s3mod.upload_run_dir(s3, run, f"s3://{BUCKET}/runs/")
    assert up == s3mod.Upload(f"s3://{BUCKET}/runs/cifar10-20261122-abc/", 2, 11)
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["Contents"]}
    assert keys == {"runs/cifar10-20261122-abc/report.md", "runs/cifar10-20261122-abc/hosts/gpu-a/events.jsonl"}

    ck = tmp_path / "ckpt"
    ck.mkdir()
    for name in ("ckpt-3.index", "ckpt-3.data-00000-of-00001", "ckpt-2.index", "checkpoint"):
        (ck / name).write_text(name)
    uris = s3mod.upload_checkpoint(s3, ck / "ckpt-3", f"s3://{BUCKET}/ck/run1")
    assert uris == [f"s3://{BUCKET}/ck/run1/ckpt-3.data-00000-of-00001", f"s3://{BUCKET}/ck/run1/ckpt-3.index",
                    f"s3://{BUCKET}/ck/run1/checkpoint"]
    # and the checkpoint comes back on another host with the fetcher
    back = s3_fetch.fetch(f"s3://{BUCKET}/ck/run1/", tmp_path / "cache", bucket)
    assert sorted(p.name for p in back.path.iterdir() if not p.name.startswith(".")) == [
        "checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    with pytest.raises(UsageError, match="no checkpoint files"):
        s3mod.upload_checkpoint(s3, ck / "ckpt-9", f"s3://{BUCKET}/ck/run1")
    assert s3mod.upload_file(s3, run / "report.md", f"s3://{BUCKET}/single/") == f"s3://{BUCKET}/single/report.md"
