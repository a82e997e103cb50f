"""`harness hosts setup`: only when the user asks, create a venv on each host and install
the pinned training packages into it. Nothing is ever installed into a host's own Python."""

from __future__ import annotations

import posixpath

from harness import shell
from harness.config.inventory import Host
from harness.requirements import TRAIN
from harness.sync import DEFAULT_WORKDIR


def venv_dir(host: Host) -> str:
    return posixpath.join(host.workdir or DEFAULT_WORKDIR, "venv")


def setup_command(host: Host, packages: list[str], base_python: str = "python3") -> str:
    v = venv_dir(host)
    pkgs = " ".join(shell.q(p) for p in packages)
    return (f"{shell.q(base_python)} -m venv {shell.q(v)} && "
            f"{shell.q(v + '/bin/python')} -m pip install -q --disable-pip-version-check {pkgs} && "
            f"{shell.q(v + '/bin/python')} -c 'import sys; print(sys.executable)'")


def setup_host(tr, host: Host, packages: list[str] | None = None, timeout: float = 1800) -> str:
    """Returns the venv's python, to set as the host's `python` in the inventory."""
    from harness.errors import HarnessError

    res = tr.exec(setup_command(host, packages or TRAIN), timeout=timeout)
    if not res.ok:
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(f"host {host.name}: setup failed (exit {res.returncode}): {tail}")
    return res.stdout.strip().splitlines()[-1]
