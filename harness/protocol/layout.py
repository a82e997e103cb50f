"""Where a run's files live and what they are called, on the control side and on a host.

One function or constant per name, so the layout is spelled out in exactly one place.

Control side:  runs/<run_id>/{plan.json, control.jsonl, ...}
               runs/<run_id>/hosts/<host>/<config dir>/<task_id>/{task.json, events.jsonl, ...}
On a host:     <workdir>/runs/<run_id>/<config dir>/<task_id>/   (or the run directory
               itself for a local host without a workdir)

<config dir> is the configuration's name, or `<name>@<repeat>` for repeat k >= 1 of a
configuration run several times (`@` cannot occur in a configuration name)."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

# -- files of the run directory (control side) ------------------------------------------
PLAN_FILE = "plan.json"              # the bound plan: every task's final spec
CONTROL_FILE = "control.jsonl"       # the control side's events
RESOLVED_FILE = "resolved.json"      # validated experiment and inventory, defaults applied
EXPERIMENT_COPY = "experiment.yaml"
INVENTORY_COPY = "inventory.yaml"
PRICES_FILE = "prices.json"
HOSTS_DIR = "hosts"

# -- files of a task directory (written on the host, pulled back) -----------------------
TASK_FILE = "task.json"              # the task's spec, exactly as plan.json holds it
ENV_FILE = "env.sh"                  # 0600, may hold secrets: never collected
EVENTS_FILE = "events.jsonl"         # a training or server task's events
SAMPLES_FILE = "samples.jsonl"       # the utilization sampler's records
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
EXIT_CODE_FILE = "exit_code"         # written by the start command when the process ends
PID_FILE = "pid"
LEASE_FILE = "lease"                 # touched by the supervisor; see constants.LEASE_S
LEASE_EXPIRED_FILE = "lease_expired"
CHECKPOINT_DIR = "checkpoints"       # relative to the task directory; stays on the host
HOROVOD_TIMELINE_FILE = "horovod_timeline.json"
MPI_HOSTFILE = "hostfile"

SAMPLER_TASK_ID = "sampler"
SAMPLER_ROLE = "sampler"

_RANK_EVENTS = re.compile(r"^events-rank(\d+)\.jsonl$")
REPEAT_SEP = "@"


def rank_events_file(rank: int) -> str:
    """The events file of MPI rank `rank`, in its host's launcher or mpi_host task directory."""
    return f"events-rank{int(rank)}.jsonl"


def rank_of_events_file(name: str) -> int | None:
    """The rank of an `events-rank<k>.jsonl` file name, else None."""
    m = _RANK_EVENTS.match(name)
    return int(m.group(1)) if m else None


def rank_events_files(task_dir: Path) -> list[tuple[int, Path]]:
    """(rank, path) of every MPI rank's events file in a task directory, by rank."""
    if not Path(task_dir).is_dir():
        return []
    found = [(rank_of_events_file(p.name), p) for p in Path(task_dir).iterdir()]
    return sorted((k, p) for k, p in found if k is not None)


WARMUP_TAG = "warmup"  # repeat 0: the warm-up run of `warmup_run` (kept, not counted)


def config_dir(config: str, repeat: int | None = None) -> str:
    """A configuration's directory name; repeat k (>= 1) of a repeated configuration gets its
    own, and its warm-up run (repeat 0) is `<name>@warmup`."""
    if repeat is None:
        return config
    if int(repeat) < 0:
        raise ValueError(f"repeat index must be >= 0 (0: warm-up run), got {repeat}")
    return f"{config}{REPEAT_SEP}{WARMUP_TAG if int(repeat) == 0 else int(repeat)}"


def parse_config_dir(name: str) -> tuple[str, int | None]:
    """(configuration, repeat) from a directory name made by `config_dir` (0: warm-up)."""
    base, sep, k = name.rpartition(REPEAT_SEP)
    if sep and base and k == WARMUP_TAG:
        return base, 0
    if sep and base and k.isdigit() and int(k) >= 1:
        return base, int(k)
    return name, None


def task_rel(host: str, config: str, task_id: str, repeat: int | None = None) -> str:
    """A task's directory relative to the run directory: hosts/<host>/<config dir>/<task_id>."""
    return f"{HOSTS_DIR}/{host}/{config_dir(config, repeat)}/{task_id}"


def local_task_dir(run_dir: Path | str, host: str, config: str, task_id: str, repeat: int | None = None) -> Path:
    """Where a task's files are in the run directory on the control side."""
    return Path(run_dir) / task_rel(host, config, task_id, repeat)


def remote_task_dir(workdir: str, run_id: str, config: str, task_id: str, repeat: int | None = None) -> str:
    """Where a task runs on a host that has a work directory."""
    return posixpath.join(workdir, "runs", run_id, config_dir(config, repeat), task_id)


def bundle_dir(workdir: str, digest: str) -> str:
    """Where a version of the harness code is unpacked on a host."""
    return posixpath.join(workdir, "bundles", digest)


def script_dir(workdir: str, digest: str) -> str:
    """Where a version of the user's script bundle (harness/config/script_bundle.py) is unpacked."""
    return posixpath.join(workdir, "scripts", digest)


def dataset_dir(workdir: str, digest: str) -> str:
    """Where a copy of a local dataset is unpacked on a host."""
    return posixpath.join(workdir, "data", digest)


def s3_cache_dir(workdir: str) -> str:
    return posixpath.join(workdir, "s3-cache")


def autostop_dir(workdir: str) -> str:
    """The autostop watchdog's folder on a host (harness/worker/autostop.py)."""
    return posixpath.join(workdir, "autostop")


INSTANCE_LEDGER_COPY = "instance_ledger.jsonl"  # a run's copy of its instances' ledger records
