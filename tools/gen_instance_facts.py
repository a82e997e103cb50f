"""Regenerate harness/prices/instance-facts.csv from moto's bundled copy of AWS's EC2
DescribeInstanceTypes data (moto/ec2/resources/instance_types.json.gz), so the control side
knows every instance type's vCPUs, memory, GPUs and network offline without importing moto.

    python tools/gen_instance_facts.py            # rewrites the file in place
    python tools/gen_instance_facts.py --check    # exit 1 if the file is out of date

Previous-generation types the studies rent but moto's data no longer lists (g3, g3s, p2,
p3) come from PREVIOUS_GENERATION below, each row marked with its own source."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.aws.instance_types import parse_instance_type  # noqa: E402  (pure, no boto3)
from harness.prices.facts import FACTS_FILE, render_facts  # noqa: E402

# Types absent from moto's data (AWS retired them from DescribeInstanceTypes in most
# regions). Figures from AWS's previous-generation instance documentation, marked "verify".
PREVIOUS_SOURCE = "AWS previous-generation instance documentation (not in moto's data; verify)"
PREVIOUS_GENERATION = [
    # type, vCPUs, memory MiB, GPUs, GPU, GPU memory MiB, network
    ("g3s.xlarge", 4, 31232, 1, "NVIDIA M60", 8192, "Up to 10 Gigabit"),
    ("g3.4xlarge", 16, 124928, 1, "NVIDIA M60", 8192, "Up to 10 Gigabit"),
    ("g3.8xlarge", 32, 249856, 2, "NVIDIA M60", 8192, "10 Gigabit"),
    ("g3.16xlarge", 64, 499712, 4, "NVIDIA M60", 8192, "25 Gigabit"),
    ("p2.xlarge", 4, 62464, 1, "NVIDIA K80", 12288, "High"),
    ("p2.8xlarge", 32, 499712, 8, "NVIDIA K80", 12288, "10 Gigabit"),
    ("p2.16xlarge", 64, 749568, 16, "NVIDIA K80", 12288, "25 Gigabit"),
    ("p3.2xlarge", 8, 62464, 1, "NVIDIA V100", 16384, "Up to 10 Gigabit"),
    ("p3.8xlarge", 32, 249856, 4, "NVIDIA V100", 16384, "10 Gigabit"),
    ("p3.16xlarge", 64, 499712, 8, "NVIDIA V100", 16384, "25 Gigabit"),
]


def moto_resource() -> tuple[Path, str]:
    import moto

    return Path(os.path.dirname(moto.__file__)) / "ec2" / "resources" / "instance_types.json.gz", moto.__version__


def generate() -> str:
    path, version = moto_resource()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    source = f"moto {version} moto/ec2/resources/instance_types.json.gz (AWS EC2 DescribeInstanceTypes)"
    rows = []
    for entry in doc.values():
        f = parse_instance_type(entry)
        rows.append((f.instance_type, f.vcpus, f.memory_mib, f.gpus, f.gpu_name, f.gpu_memory_mib,
                     f.network_performance, "moto"))
    known = {r[0] for r in rows}
    rows += [(*p, "previous") for p in PREVIOUS_GENERATION if p[0] not in known]
    return render_facts(rows, {"moto": source, "previous": PREVIOUS_SOURCE})


def _rows(text: str) -> list[str]:
    """The file's data lines with each row's source key: what the check compares."""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the bundled file differs")
    args = ap.parse_args()
    out = REPO / "harness" / "prices" / FACTS_FILE
    text = generate()
    if args.check:
        # Data, not bytes: a new moto release that ships the same instance types changes only
        # the version in the header, which is provenance, not content.
        same = out.is_file() and _rows(out.read_text(encoding="utf-8")) == _rows(text)
        print(f"{out}: {'up to date' if same else 'out of date; run tools/gen_instance_facts.py'}")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({text.count(chr(10)) - 4} instance types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
