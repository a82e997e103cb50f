"""The files `harness sandbox up` writes for the user (known_hosts and the inventory) and the
run command it prints; and which existing files those may replace (only a gone sandbox's)."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.errors import UsageError
from harness.sandbox import shaping, sshd
from harness.sandbox.state import SandboxState, load

SANDBOX_TYPE = "sandbox"   # the inventory's instance_type of every sandbox host (no price)


def _write_outputs(st: SandboxState, req) -> None:
    kh, inv = (Path(f) for f in st.files)
    kh.parent.mkdir(parents=True, exist_ok=True)
    kh.write_text(_header(st) + "".join(sshd.known_hosts_line(h.address, h.port, h.host_key) + "\n"
                                        for h in st.hosts))
    inv.parent.mkdir(parents=True, exist_ok=True)
    inv.write_text(_header(st) + yaml.safe_dump(inventory_dict(st), sort_keys=False))


def _header(st: SandboxState) -> str:
    return (f"# written by `harness sandbox up` (sandbox {st.tag}, {st.dir}); "
            f"`harness sandbox down` removes it\n")


def _output_paths(req, d: Path) -> list[str]:
    """[known_hosts, inventory], checked before anything is made: never overwrite a file
    that is not from a sandbox, or that belongs to a sandbox that is still up."""
    kh = Path(req.known_hosts).expanduser() if req.known_hosts else d / "known_hosts"
    inv = Path(req.out).expanduser()
    for p, flag in ((kh, "--known-hosts"), (inv, "--out")):
        if p.exists() and not _from_a_gone_sandbox(p):
            raise UsageError(f"{p} exists and is not from a sandbox that is gone; choose another path with "
                             f"{flag}, or run `harness sandbox down` for the sandbox that wrote it")
    return [str(kh.resolve()), str(inv.resolve())]


def _ours(p: Path, tag: str) -> bool:
    try:
        return f"(sandbox {tag}," in p.read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        return False


def _from_a_gone_sandbox(p: Path) -> bool:
    """An inventory/known_hosts written by a sandbox that no longer exists may be overwritten
    (its `down` was skipped, or its directory removed by hand)."""
    try:
        first = p.read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        return False
    if not first.startswith("# written by `harness sandbox up` (sandbox "):
        return False
    where = first.split(", ", 1)[1].split(")", 1)[0] if ", " in first else ""
    return load(Path(where)) is None if where else True


def inventory_dict(st: SandboxState) -> dict:
    """PURE: the inventory of a sandbox (harness.config.inventory.Inventory's shape)."""
    # network_interface: the device ranks talk over (Horovod's HOROVOD_GLOO_IFACE).
    labels = {"sandbox": "1", "network_interface": "eth0" if st.mode == "netns" else "lo"}
    return {
        # instance_type: every sandbox host is the same (a share of this machine), so the
        # report can pair a distributed configuration with its single-process baseline.
        "defaults": {"user": st.user, "key": st.client_key, "python": st.python, "instance_type": SANDBOX_TYPE,
                     "labels": labels},
        "hosts": [{"name": h.name, "address": h.address, "port": h.port, "workdir": h.workdir,
                   **({"labels": {**labels, "rate": shaping.format_rate(h.rate_bits)}} if h.rate_bits else {})}
                  for h in st.hosts],
    }


def run_command(st: SandboxState, experiment: str = "experiments/rehearsal.yaml") -> str:
    inv, kh = st.files[1], st.files[0]
    return f"harness run --hosts {_rel(inv)} --known-hosts {_rel(kh)} --experiment {experiment}"


def _rel(p: str) -> str:
    try:
        return str(Path(p).relative_to(Path.cwd()))
    except ValueError:
        return p
