"""horovod on a host (the control side: harness/strategies/horovod.py): the ranks' training
hooks (`Trainer`) and the tasks that serve rather than train: the gloo launcher's
rendezvous server, mpirun (the mpi launcher, mpi.py) and the idle `mpi_host` whose
directory a host's MPI ranks write into."""

from __future__ import annotations

import os
import threading
import time

from harness.protocol.spec import TaskSpec
from harness.worker.mpi import run_mpirun
from harness.worker.stopping import StopOnSignal
from harness.worker.strategies.base import Local, pin_gpu

# Roles that never read the workload, and the cluster facts a role cannot start without.
NO_WORKLOAD = ("rendezvous", "launcher", "mpi_host")
CLUSTER_NEEDS = {"rendezvous": ("port", "slots"), "launcher": ("contexts",)}


def server(spec: TaskSpec):
    """What runs a task of this role when it serves rather than trains; None: it trains.
    (A process mpirun started reads the launcher's task.json as a rank: mpi.as_mpi_rank.)"""
    return {"rendezvous": serve_rendezvous, "launcher": run_mpirun, "mpi_host": idle_mpi_host}.get(spec.role)


def idle_mpi_host(spec: TaskSpec, log) -> dict:
    stop = StopOnSignal()
    log.emit("server_start", kind="mpi_host")
    stop.wait()
    return {"stopped_by": stop.signum}


def serve_rendezvous(spec: TaskSpec, log) -> dict:
    """Horovod's own rendezvous server, on the port the plan gave the ranks, initialised
    with the plan's rank layout (the ranks' scopes and their sizes)."""
    stop = StopOnSignal()
    from horovod.runner.common.util.hosts import SlotInfo
    from horovod.runner.http.http_server import RendezvousHandler, RendezvousHTTPServer

    cluster = spec.cluster
    slots = [SlotInfo(hostname=s.hostname, rank=s.rank, local_rank=s.local_rank, cross_rank=s.cross_rank,
                      size=s.size, local_size=s.local_size, cross_size=s.cross_size) for s in cluster.slots]
    server = RendezvousHTTPServer(("", int(cluster.port)), RendezvousHandler, 0)
    server.init(slots)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    log.emit("server_start", kind="horovod_rendezvous", port=int(cluster.port), ranks=len(slots))
    print(f"horovod rendezvous server listening on port {cluster.port} for {len(slots)} ranks", flush=True)
    stop.wait()  # no server.shutdown(): it waits up to a poll interval, and exit ends the thread
    return {"stopped_by": stop.signum}


class Trainer(Local):
    """hvd.init, GPU by local rank, DistributedGradientTape, broadcast after step 1."""
    calibrates = True
    joins_cluster = True

    def __init__(self, tf, spec: TaskSpec):
        super().__init__(tf, spec)
        import horovod.tensorflow as hvd

        self.hvd = hvd
        self._join(spec)
        pin_gpu(tf, hvd.local_rank())

    def _join(self, spec: TaskSpec) -> None:
        _wait_for_rendezvous()
        self.hvd.init()   # reads this task's rank, size and rendezvous from its environment
        self.rank, self.size = self.hvd.rank(), self.hvd.size()
        if self.size != spec.size:
            raise RuntimeError(f"Horovod started {self.size} ranks but the plan has {spec.size}")

    def rejoin(self, spec: TaskSpec) -> None:
        # A new rendezvous in the same interpreter, as Horovod's elastic mode does after a reset.
        # The local rank may differ from the previous task's (the data shard follows it); a GPU
        # pinned by local rank could not, but a kept process is reused only on CPU hosts (base).
        self._join(spec)

    def leave(self) -> None:
        self.hvd.shutdown()

    def tape(self, tape):
        return self.hvd.DistributedGradientTape(tape)

    def after_first_step(self, model, opt) -> None:
        # Every rank starts from rank 0's weights (and optimizer slots, created by step 1).
        self.hvd.broadcast_variables(model.variables, root_rank=0)
        self.hvd.broadcast_variables(opt.variables, root_rank=0)

    def agree_stop(self, mine: bool) -> bool:
        # Rank 0's interval decides for all (a sum over ranks of rank 0's vote).
        return self._allreduce_sum([1.0 if mine and self.rank == 0 else 0.0], "precision_stop")[0] > 0

    def barrier(self) -> None:
        self._allreduce_sum([0.0], "harness_barrier")

    def _allreduce_sum(self, values: list[float], name: str) -> list[float]:
        tf = self.tf
        out = self.hvd.allreduce(tf.constant(values, dtype=tf.float64), op=self.hvd.Sum, name=name)
        return [float(v) for v in out.numpy()]

    def evaluate(self, model, per_example_loss, score_fn, x_val, y_val):
        """Every rank evaluates its shard and one all-reduce adds the sums; rank 0 records
        them. (Rank 0 evaluating alone would leave the others waiting inside their next
        step's all-reduce, and that wait would show up as step time.)"""
        local = self._evaluate_here(model, per_example_loss, score_fn,
                                    x_val[self.rank::self.size], y_val[self.rank::self.size])
        vl, vs, vn = self._allreduce_sum(list(local), "harness_eval")
        return (vl, vs, int(vn)) if self.is_chief else None

    def checkpoint(self, model, opt, ckpt_dir: str | None):
        if not ckpt_dir:
            return None
        save = Local.checkpoint(self, model, opt, ckpt_dir)   # rank 0 only

        def save_then_wait():
            path = save() if save else None
            # The others wait here, not inside their next step, while rank 0 writes.
            self._allreduce_sum([0.0], "harness_checkpoint_barrier")
            return path
        return save_then_wait


def _wait_for_rendezvous(timeout: float = 60.0) -> None:
    """The rendezvous task starts before the ranks, but may not listen yet; Horovod's own
    first request does not retry a refused connection."""
    import socket

    addr, port = os.environ.get("HOROVOD_GLOO_RENDEZVOUS_ADDR"), os.environ.get("HOROVOD_GLOO_RENDEZVOUS_PORT")
    if not addr or not port:
        return  # started by mpirun
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((addr, int(port)), timeout=2).close()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Horovod rendezvous server {addr}:{port} not reachable after {timeout:g} s: {e}")
            # Short: a warm rank is up before the (cold) rendezvous server listens, and each
            # missed poll is start-up time (a refused local connect costs microseconds).
            time.sleep(0.02)
