"""Values both sides must agree on."""

from __future__ import annotations

# The supervisor renews each task's lease file; a task whose lease is older than this many
# seconds is killed by its own watchdog (a host cut off from the control side stops).
LEASE_S = 60.0

# Where a host keeps bundles, datasets and task directories when its inventory entry has no workdir.
DEFAULT_WORKDIR = "/tmp/harness"

# The interpreter a task runs with over SSH when the inventory names none.
DEFAULT_REMOTE_PYTHON = "python3"

# How every task process is started, in its task directory.
WORKER_MODULE = "harness.worker"


def worker_argv(python: str) -> list[str]:
    return [python, "-m", WORKER_MODULE, "--task", "task.json"]


# Environment every task gets. TF_USE_LEGACY_KERAS: Horovod and ParameterServerStrategy need Keras 2.
BASE_ENV = {
    "TF_USE_LEGACY_KERAS": "1",
    "PYTHONUNBUFFERED": "1",
    "TF_CPP_MIN_LOG_LEVEL": "1",
}
RUN_ID_ENV = "HARNESS_RUN_ID"        # finds a run's processes on a host (sampler, leftover sweep)
TASK_ENV = "HARNESS_TASK"            # "<config>/<task_id>"
WARM_NAME_ENV = "HARNESS_WARM_NAME"  # a task that a warm zygote may serve: the zygote's name
WARM_ENV = "HARNESS_WARM"            # set in a warm child: what it shares with its zygote (JSON)
WARM_ZYGOTE_ENV = "HARNESS_WARM_ZYGOTE"  # set in a zygote's own environment (a configuration's sweep leaves it)
WARM_HOT_ENV = "HARNESS_WARM_HOT"    # a warm task's kept-state key: an identical configuration's process may serve it
WARM_KEEP_ENV = "HARNESS_WARM_KEEP"  # "1": a later run on this host has the same key, so keep this process after the task
WARM_OWN_ENV = "HARNESS_WARM_OWN"    # "1": this run's zygote started in its own window (it paid the imports): a cold run
EVENTS_ENV = "HARNESS_EVENTS"        # a user script's path to append records to
# Directories of strategies beyond the harness's own (os.pathsep-separated): each holds
# <name>.py (the control side, as harness/strategies/<name>.py) and worker/<name>.py (its
# host side, as harness/worker/strategies/<name>.py). Both registries read it; docs/strategies.md.
STRATEGY_PATH_ENV = "HARNESS_STRATEGY_PATH"

# The EC2 instance metadata service, and the variable that overrides its address (tests).
IMDS_URL = "http://169.254.169.254"
IMDS_ENV = "HARNESS_IMDS_URL"

