"""RunOptions: how one run is to be carried out, as the user (or the rehearsal, a search, an
attach) asked for it. Built once, frozen, passed down: a new run option is a field here,
its flag in harness/cli/run.py, and the one place that uses it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Union

from harness.errors import UsageError

# After a blip the next poll renews the leases: a poll interval and one poll's time.
LEASE_MARGIN_S = 5.0


@dataclass(frozen=True)
class RunOptions:
    experiment: str                          # experiment YAML
    hosts: str                               # inventory YAML
    runs_root: str = "runs"                  # where run directories are created
    run_id: Optional[str] = None             # default: experiment name + UTC time + random
    ssh_options: Any = None                  # harness.transport.ssh.SSHOptions, or None for the defaults
    grace_s: float = 10.0                    # SIGTERM → SIGKILL when stopping tasks
    keep_going: bool = False                 # run the remaining configurations after one fails
    live_prices: Literal["auto", "on", "off"] = "auto"
    lease_s: float = 90.0                    # how long a task outlives a control side it cannot hear
    connection_grace_s: float = 60.0         # an outage to a host shorter than this is a blip, not a failure
    resume: Optional[Path] = None            # an earlier run directory: rerun what did not succeed
    parallel: Optional[bool] = None          # None: the experiment's `parallel`
    fail_fast: bool = False                  # in parallel: the first failure stops every configuration
    repeats: Optional[Union[int, str]] = None  # overrides the experiment's repeats (N or "auto")
    upload_to: Optional[str] = None          # s3://BUCKET/PREFIX for the run directory afterwards
    hostfile: Optional[bool] = None          # `hosts` is a Horovod/MPI hostfile (None: when it looks like one)
    env: tuple[tuple[str, str], ...] = ()    # -x NAME[=VALUE]: wins over every env: of the experiment
    workers: Optional[int] = None            # -np N: the workers of every distributed configuration
    detach: bool = False                     # hand the run to keepers on its hosts once it runs (harness attach)

    def __post_init__(self):
        if self.live_prices not in ("auto", "on", "off"):
            raise ValueError(f"live_prices must be auto, on or off, not {self.live_prices!r}")
        if self.lease_s < self.connection_grace_s + LEASE_MARGIN_S:
            raise UsageError(f"--lease ({self.lease_s:g} s) must exceed --connection-grace "
                             f"({self.connection_grace_s:g} s) by at least {LEASE_MARGIN_S:g} s: a task whose "
                             f"lease runs out during a blip stops itself")
        if self.detach and self.upload_to:
            raise UsageError("--upload-to applies when the report is written: pass it to `harness attach`, "
                             "not to `harness run --detach`")
        if self.resume is not None and not isinstance(self.resume, Path):
            object.__setattr__(self, "resume", Path(self.resume))

    @property
    def run_dir_root(self) -> Path:
        return Path(self.runs_root)
