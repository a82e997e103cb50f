"""`harness hosts setup`: only when the user asks, create a venv on each host and install
the pinned training packages into it. Nothing is ever installed into a host's own Python.

`--with horovod` also installs Horovod the way run.sh does here: its source release
(HOROVOD_VERSION) patched for tf-keras (horovod_patch.py, copied to the host and run there),
built against the venv's TensorFlow, with MPI and Gloo (and NCCL when the host has the CUDA
toolkit), as a wheel, once, on the first host, then copied to the others and installed from
it; the hosts must share OS, Python and CPU architecture. Hosts with
GPUs get TensorFlow's CUDA build (`tensorflow[and-cuda]`). Command builders are PURE."""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path

from harness.transport import shell
from harness.config.inventory import Host
from harness.errors import HarnessError
from harness.preflight import horovod_patch
from harness.protocol.constants import DEFAULT_WORKDIR
from harness.requirements import HOROVOD_BUILD, HOROVOD_RUNTIME, HOROVOD_VERSION, TRAIN, TRAIN_GPU


def venv_dir(host: Host) -> str:
    return posixpath.join(host.workdir or DEFAULT_WORKDIR, "venv")


def wheel_dir(host: Host) -> str:
    return posixpath.join(host.workdir or DEFAULT_WORKDIR, "wheels")


def packages_for(gpu: bool, with_horovod: bool) -> list[str]:
    return list(dict.fromkeys([*(TRAIN_GPU if gpu else TRAIN), *(HOROVOD_BUILD + HOROVOD_RUNTIME if with_horovod else [])]))


def setup_command(host: Host, packages: list[str], base_python: str = "python3") -> str:
    v = venv_dir(host)
    pkgs = " ".join(shell.q(p) for p in packages)
    return (f"{shell.q(base_python)} -m venv {shell.q(v)} && "
            f"{shell.q(v + '/bin/python')} -m pip install -q --disable-pip-version-check {pkgs} && "
            f"{shell.q(v + '/bin/python')} -c 'import sys; print(sys.executable)'")


GPU_PROBE = "command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU && echo gpu || echo cpu"
CUDA_PROBE = ("for n in \"$(command -v nvcc 2>/dev/null)\" /usr/local/cuda/bin/nvcc; do "
              "[ -n \"$n\" ] && [ -x \"$n\" ] && { echo \"$n\"; exit 0; }; done; echo none")


def patch_script_path(host: Host) -> str:
    """Where build_horovod_wheel puts horovod_patch.py on the host."""
    return posixpath.join(wheel_dir(host), "horovod_patch.py")


def horovod_build_command(host: Host, cuda_nvcc: str | None = None) -> str:
    """Download Horovod's source release, patch it (horovod_patch.py, already on the host)
    and build the wheel into the host's wheel folder; prints the wheel's path. NCCL (GPU
    all-reduce) when the CUDA toolkit is there, Gloo and MPI always."""
    v, w = venv_dir(host), wheel_dir(host)
    py = shell.q(v + "/bin/python")
    sdist = f"\"$t\"/horovod-{HOROVOD_VERSION}.tar.gz"
    flags = ["HOROVOD_WITH_TENSORFLOW=1", "HOROVOD_WITH_MPI=1", "HOROVOD_WITH_GLOO=1", "HOROVOD_WITHOUT_PYTORCH=1",
             "HOROVOD_WITHOUT_MXNET=1"]
    if cuda_nvcc:
        cuda_home = posixpath.dirname(posixpath.dirname(cuda_nvcc))
        flags += ["HOROVOD_GPU_OPERATIONS=NCCL", f"CUDA_HOME={shell.q(cuda_home)}"]
    return (f"mkdir -p {shell.q(w)} && t=$(mktemp -d {shell.q(w + '/build.XXXXXX')}) && "
            f"{py} -m pip download -q --disable-pip-version-check --no-input --no-deps --no-binary :all: "
            f"--no-build-isolation -d \"$t\" {shell.q('horovod==' + HOROVOD_VERSION)} && "
            f"s=$({py} {shell.q(patch_script_path(host))} {sdist} \"$t\") && "
            f"PATH={shell.q(v + '/bin')}:\"$PATH\" {' '.join(flags)} "
            f"{py} -m pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps --no-cache-dir "
            f"-w \"$t\" \"$s\" && {py} {shell.q(patch_script_path(host))} --check-wheel \"$t\"/horovod-*.whl && "
            f"mv \"$t\"/horovod-*.whl {shell.q(w)}/ && "
            f"rm -rf \"$t\" && ls -1 {shell.q(w)}/horovod-{horovod_patch.VERSION}-*.whl | head -n 1")


def horovod_install_command(host: Host, wheel: str) -> str:
    py = shell.q(venv_dir(host) + "/bin/python")
    return (f"{py} -m pip install -q --disable-pip-version-check --no-deps --force-reinstall {shell.q(wheel)} && "
            f"{py} -c 'import horovod.tensorflow, horovod; print(horovod.__version__)'")


def setup_host(tr, host: Host, packages: list[str] | None = None, timeout: float = 1800,
               base_python: str = "python3") -> str:
    """Returns the venv's python, to set as the host's `python` in the inventory."""
    res = tr.exec(setup_command(host, packages or TRAIN, base_python), timeout=timeout)
    if not res.ok:
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(f"host {host.name}: setup failed (exit {res.returncode}): {tail}")
    return res.stdout.strip().splitlines()[-1]


def host_has_gpu(tr, host: Host) -> bool:
    return host.gpus > 0 or tr.exec(GPU_PROBE, timeout=30).stdout.strip() == "gpu"


def build_horovod_wheel(tr, host: Host, timeout: float = 3600) -> str:
    """On `host`: the wheel's path there (built once; about 10 minutes on 2 cores)."""
    tr.put(Path(horovod_patch.__file__), patch_script_path(host))
    nvcc = tr.exec(CUDA_PROBE, timeout=30).stdout.strip()
    res = tr.exec(horovod_build_command(host, None if nvcc in ("", "none") else nvcc), timeout=timeout)
    if not res.ok or not res.stdout.strip():
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(f"host {host.name}: building horovod {horovod_patch.VERSION} failed "
                           f"(exit {res.returncode}): "
                           f"{tail} (needs a C++ compiler: apt-get install g++)")
    return res.stdout.strip().splitlines()[-1]


def install_horovod(transports: dict, hosts: list[Host], build_host: Host, wheel: str) -> dict[str, str]:
    """Copy the wheel from `build_host` to every other host and install it everywhere;
    {host: horovod version}."""
    from harness.transport.fanout import fan_out

    name = posixpath.basename(wheel)
    with tempfile.TemporaryDirectory(prefix="harness-wheel-") as d:
        local = Path(d) / name
        transports[build_host.name].get(wheel, local)

        def one(h: Host) -> str:
            target = wheel if h.name == build_host.name else posixpath.join(wheel_dir(h), name)
            if h.name != build_host.name:
                transports[h.name].put(local, target)
            res = transports[h.name].exec(horovod_install_command(h, target), timeout=1800)
            if not res.ok:
                tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
                raise HarnessError(f"host {h.name}: installing {name} failed: {tail}")
            version = res.stdout.strip().splitlines()[-1]
            if version != horovod_patch.VERSION:
                raise HarnessError(f"host {h.name}: {name} installed horovod {version}, not the tf-keras build "
                                   f"{horovod_patch.VERSION}: run `harness hosts setup --with horovod` again")
            return version

        results = fan_out({h.name: h for h in hosts}, one)
    failed = [str(o.error) for o in results.values() if o.error is not None]
    if failed:
        raise HarnessError("; ".join(failed))
    return {n: o.value for n, o in results.items()}
