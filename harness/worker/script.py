"""The user's own training script as a task: launched with the strategy's environment
(TF_CONFIG, Horovod's variables, thread settings), its output kept in the task's
stdout.log/stderr.log, and its figures read from

  (a) the records harness.callback writes into this task's events file (HARNESS_EVENTS), and
  (b) the experiment's regular expressions (workload.metrics), applied to every line the
      script prints as it runs: each match is a `metric` record with source "regex".
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

import harness
from harness.protocol.failure_line import decisive_line
from harness.protocol.constants import EVENTS_ENV
from harness.protocol.precision import PrecisionStop
from harness.protocol.spec import TaskSpec


def script_env(spec: TaskSpec) -> dict[str, str]:
    """What the script is told about its task, on top of the task's own environment."""
    work, threads = spec.workload, spec.threads
    env = {
        EVENTS_ENV: os.path.abspath(spec.events),
        "HARNESS_CONFIG": spec.config, "HARNESS_TASK_ID": spec.task_id,
        "HARNESS_ROLE": spec.role, "HARNESS_HOST": spec.host,
        "HARNESS_RANK": "" if spec.rank is None else str(spec.rank),
        "HARNESS_SIZE": str(spec.size or 1), "HARNESS_STRATEGY": spec.strategy,
        "HARNESS_LOG_EVERY": str(work.log_every or 1),
    }
    ds = work.dataset
    if ds is not None and ds.name:
        env["HARNESS_DATASET_NAME"] = ds.name
    if ds is not None and ds.path:
        env["HARNESS_DATASET"] = ds.path
    if work.batch_size:
        env["HARNESS_BATCH_SIZE"] = str(work.batch_size)
    # harness.callback stops the script's training there; one process only: ranks of a
    # distributed script deciding each on its own would leave the others in a collective.
    if spec.precision is not None and (spec.size or 1) <= 1:
        p = spec.precision
        env.update(PrecisionStop(p.precision, p.min_steps, p.warmup_steps).env())
    # TensorFlow reads these when it creates its thread pools: the script gets the
    # configuration's thread settings without calling tf.config itself.
    if threads.intra_op is not None:
        env["TF_NUM_INTRAOP_THREADS"] = str(threads.intra_op)
    if threads.inter_op is not None:
        env["TF_NUM_INTEROP_THREADS"] = str(threads.inter_op)
    # `import harness.callback` works from the script whatever its directory.
    root = os.path.dirname(os.path.dirname(os.path.abspath(harness.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return env


def compile_metrics(metrics: Mapping[str, str]) -> list[tuple[str, re.Pattern]]:
    return [(name, re.compile(pattern)) for name, pattern in (metrics or {}).items()]


def match_line(line: str, patterns: list[tuple[str, re.Pattern]]) -> list[tuple[str, float]]:
    """(metric, value) for every pattern that finds a number in the line."""
    out = []
    for name, pat in patterns:
        m = pat.search(line)
        if m is None:
            continue
        try:
            out.append((name, float(m.group(1))))
        except (TypeError, ValueError):
            continue
    return out


def run_script(spec: TaskSpec, log) -> dict:
    work = spec.workload
    script = work.script
    if not os.path.isfile(script):
        raise FileNotFoundError(f"script {script} not found on host {spec.host} (the harness ships it to "
                                f"SSH hosts; on a local host it is read where the experiment names it)")
    patterns = compile_metrics(work.metrics)
    argv = [sys.executable, "-u", script, *work.args]
    lock = threading.Lock()
    matches = {"n": 0}
    log.emit("script_start", argv=argv, metrics=sorted(work.metrics))

    tail: collections.deque = collections.deque(maxlen=40)   # the script's last stderr lines

    def pump(stream, out, name):
        # Line by line as the script prints, so a regex record's t_wall is when it was printed.
        for raw in iter(stream.readline, b""):
            out.buffer.write(raw)
            out.flush()
            line = raw.decode("utf-8", "replace")
            if name == "stderr":
                tail.append(line)
            for metric, value in match_line(line, patterns):
                with lock:  # two pumps share one event log
                    matches["n"] += 1
                    log.emit("metric", name=metric, value=value, source="regex", stream=name,
                             line=line.strip()[:300])
        stream.close()

    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env={**os.environ, **script_env(spec)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pumps = [threading.Thread(target=pump, args=(proc.stdout, sys.stdout, "stdout"), daemon=True),
             threading.Thread(target=pump, args=(proc.stderr, sys.stderr, "stderr"), daemon=True)]
    for p in pumps:
        p.start()

    def forward(signum, frame):  # the script is in our session and got it too; make sure
        try:
            proc.send_signal(signum)
        except OSError:
            pass
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, forward)
    rc = proc.wait()
    for p in pumps:
        p.join(timeout=5)
    log.emit("script_exit", returncode=rc, seconds=time.monotonic() - t0, regex_matches=matches["n"])
    if rc != 0:
        why = decisive_line("".join(tail))
        raise RuntimeError(f"script {os.path.basename(script)} exited with {rc}" + (f": {why}" if why else "; see stderr.log"))
    return {"returncode": rc, "seconds": time.monotonic() - t0, "regex_matches": matches["n"]}
