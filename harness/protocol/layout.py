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
DETACH_FILE = "detach.json"          # a detached run: where its keepers are (harness/stages/detach.py)
DETACHED_DIR = "detached"            # a detached run's own files: the steward's log mirror, attach records
PREFIX_FILE = "control.prefix.jsonl"  # in DETACHED_DIR: control.jsonl as it was when the run detached
KEEPER_MIRROR_FILE = "keeper.jsonl"  # in DETACHED_DIR: a byte copy of the steward's control log
ATTACH_RECORDS_FILE = "attach.jsonl"  # in DETACHED_DIR: the records attach writes (collected, ...)
REGISTRY_FILE = "registry.jsonl"     # in the runs root: the detached runs this machine knows

# -- a detached run's keeper, on each host (harness/worker/keeper.py) -------------------
KEEPER_DIR = ".keeper"               # <host's run dir>/.keeper/<host>/ (no configuration name starts with '.')
KEEPER_SPEC_FILE = "keeper.json"     # 0600: the keeper's instructions (with the steward's token)
KEEPER_LOG_FILE = "control.jsonl"    # the steward's control records, the schema of control.jsonl
KEEPER_STATE_FILE = "state.json"     # the keeper's live state, rewritten every poll
KEEPER_PID_FILE = "pid"
KEEPER_LOCK_FILE = "keeper.lock"     # one keeper per host and run
KEEPER_OUT_FILE = "keeper.log"       # the keeper's own stdout and stderr
KEEPER_READY_FILE = "ready"          # every host has its files: the keepers may start
STOP_REQUEST_FILE = "stop_request"   # `harness stop` writes it on the steward
ATTACH_LOCK_FILE = "attach.lock"     # held on the steward by the attached control side
SEED_DIR = "seed"                    # on the steward: the run directory as it was at detach time

# -- files of a task directory (written on the host, pulled back) -----------------------
TASK_FILE = "task.json"              # the task's spec, exactly as plan.json holds it
ENV_FILE = "env.sh"                  # 0600, may hold secrets: never collected
EVENTS_FILE = "events.jsonl"         # a training or server task's events
SAMPLES_FILE = "samples.jsonl"       # the utilization sampler's records
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
EXIT_CODE_FILE = "exit_code"         # written by the start command when the process ends
WARM_CPU_FILE = "warm_cpu.json"      # a warm child's CPU seconds as it entered this task (the sampler's baseline)
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


def keeper_dir(host_run_dir: str, host: str) -> str:
    """Where a host's keeper of a detached run keeps its files: beside the run's task
    directories on that host (`host_run_dir` = <workdir>/runs/<run_id>, or the run
    directory itself for a local host without a workdir)."""
    return posixpath.join(host_run_dir, KEEPER_DIR, host)


def remote_run_dir(workdir: str, run_id: str) -> str:
    """A run's directory on a host with a work directory (its task directories are below)."""
    return posixpath.join(workdir, "runs", run_id)


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
