"""Tasks that serve rather than train; each runs until the harness stops it with SIGTERM
(then the worker writes run_end):

  rendezvous       Horovod's HTTP rendezvous server on the planned port (gloo launcher)
  launcher         runs mpirun for the MPI launcher and waits for it (mpi.py)
  mpi_host         idle: its directory is where this host's MPI ranks write
  ps / worker      a tf.distribute.Server of a parameter-server cluster
  evaluator        evaluates each checkpoint the parameter-server chief writes
"""

from __future__ import annotations

import os
import threading
import time

from harness.protocol.constants import SERVER_ROLES
from harness.protocol.spec import TaskSpec
from harness.worker.mpi import run_mpirun
from harness.worker.stopping import StopOnSignal


def is_server(spec: TaskSpec) -> bool:
    if spec.role in SERVER_ROLES:
        return True
    # A parameter-server cluster's ps, workers and evaluator are servers, unless the
    # user's own script plays those roles itself (it sees TF_CONFIG).
    return (spec.strategy == "parameter_server" and spec.role in ("ps", "worker", "evaluator")
            and not (spec.workload is not None and spec.workload.script))


def run_server(spec: TaskSpec, log) -> dict:
    role = spec.role
    if role == "rendezvous":
        return serve_rendezvous(spec, log)
    if role == "launcher":
        return run_mpirun(spec, log)
    if role == "mpi_host":
        stop = StopOnSignal()
        log.emit("server_start", kind="mpi_host")
        stop.wait()
        return {"stopped_by": stop.signum}
    if role == "evaluator":
        return run_evaluator(spec, log)
    return serve_tf(spec, log)


# -- Horovod rendezvous (gloo launcher) --------------------------------------------------


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


# -- parameter-server cluster servers ------------------------------------------------------


def serve_tf(spec: TaskSpec, log) -> dict:
    stop = StopOnSignal()
    t = time.monotonic()
    import tensorflow as tf

    log.emit("phase", name="framework_import", seconds=time.monotonic() - t, versions={"tensorflow": tf.__version__})
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    threads = spec.threads
    if resolver.task_type == "worker" and spec.workload is not None and spec.workload.calibration_steps:
        # Before the server starts: the chief cannot schedule steps here while we calibrate
        # (it waits for every worker), and all workers calibrate at once, as they train.
        calibrate_ps_worker(tf, spec, log)
    config = None
    if threads.intra_op is not None or threads.inter_op is not None:
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads.intra_op or 0,
                                          inter_op_parallelism_threads=threads.inter_op or 0)
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol="grpc", config=config, start=True)
    log.emit("server_start", kind=f"tf_{resolver.task_type}", target=server.target)
    stop.wait()  # not server.join(): it blocks in C++, where no Python signal handler runs
    return {"stopped_by": stop.signum}


def calibrate_ps_worker(tf, spec: TaskSpec, log) -> None:
    """A parameter-server worker's calibration (harness/worker/calibrate.py): the chief's
    step (same model, batch, optimizer and loss) with variables local to this process."""
    import models
    from harness.worker.calibrate import calibrate, gradient_bytes
    from harness.worker.datasets import load_dataset
    from harness.worker.keras_parts import import_tf, optimizer, score

    _, keras = import_tf(spec.threads)   # tf is imported: sets its threads, gives tf_keras
    work = spec.workload
    data = load_dataset(work.dataset, seed=work.seed)
    keras.utils.set_random_seed(work.seed)
    model = models.build(work.model, data.input_shape, data.outputs, data.task)
    classification = data.task == "classification"
    loss_fn = (keras.losses.SparseCategoricalCrossentropy(reduction="none") if classification
               else keras.losses.MeanSquaredError(reduction="none"))
    from harness.worker.distribute import Local

    local = Local(tf, spec)
    step = local.train_step(model, optimizer(keras, work.optimizer, work.learning_rate), loss_fn,
                            lambda pred, y: score(tf, pred, y, classification), int(work.batch_size))
    it = local.dataset(data.x_train, data.y_train, int(work.batch_size), int(work.seed))
    _, grad_bytes = gradient_bytes(model)
    calibrate(log, step, it, model, int(work.calibration_steps), strategy="parameter_server",
              size=len(spec.cluster.cluster.get("worker", ())) or None, gradient_bytes=grad_bytes)


def run_evaluator(spec: TaskSpec, log) -> dict:
    """Sidecar evaluation: each new checkpoint the chief writes is restored into a local copy
    of the model and evaluated on the validation set; one `evaluation` record each."""
    stop = StopOnSignal()
    import tensorflow as tf
    import tf_keras as keras

    import models
    from harness.worker.datasets import load_dataset

    work = spec.workload
    data = load_dataset(work.dataset, seed=work.seed)
    model = models.build(work.model, data.input_shape, data.outputs, data.task)
    ckpt = tf.train.Checkpoint(model=model)
    classification = data.task == "classification"
    watch = spec.cluster.watch_dir
    log.emit("server_start", kind="evaluator", watch_dir=watch)
    seen = None
    while True:
        latest = tf.train.latest_checkpoint(watch) if os.path.isdir(watch) else None
        if latest and latest != seen:
            seen = latest
            ckpt.restore(latest).expect_partial()
            pred = model.predict(data.x_val, batch_size=256, verbose=0)
            if classification:
                loss = float(keras.losses.sparse_categorical_crossentropy(data.y_val, pred).numpy().mean())
                fields = {"val_loss": loss, "val_accuracy": float((pred.argmax(-1) == data.y_val).mean())}
            else:
                mse = float(((pred - data.y_val) ** 2).mean())
                fields = {"val_loss": mse, "val_rmse": mse ** 0.5}
            log.emit("evaluation", checkpoint=latest, **fields)
        if stop.wait(timeout=1.0):
            return {"stopped_by": stop.signum, "last_checkpoint": seen}
