"""Launch fan-out: wall time from the start of a run (connect to every host, sync the
code bundle, start the tasks) to every task running, for 1, 4, 16 and 32 loopback sshd
test hosts with one trivial task each. Prints the table and the 32/1 ratio (goal <= 1.5).

    .venv/bin/python benchmarks/launch_fanout.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.bundle import build_bundle  # noqa: E402
from harness.config.inventory import Host  # noqa: E402
from harness.events import EventLog  # noqa: E402
from harness.launch import Supervisor  # noqa: E402
from harness.plan import ConfigPlan, Task  # noqa: E402
from harness.sync import sync_host  # noqa: E402
from harness.transport import open_transports  # noqa: E402
from harness.transport.fanout import fan_out  # noqa: E402
from harness.transport.ssh import SSHOptions  # noqa: E402
from tests.sshd_hosts import running_hosts, write_known_hosts  # noqa: E402


def one_launch(test_hosts, tmp: Path, trial: int) -> float:
    script = tmp / "trivial"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    opts = SSHOptions(known_hosts=write_known_hosts(test_hosts, tmp / "kh"), ssh_config=None,
                      harness_known_hosts=tmp / "hk")
    hosts = [Host(name=f"h{i}", address=t.address, port=t.port, user=t.user, key=str(t.key_path),
                  python=str(script), workdir=str(tmp / f"w{i}")) for i, t in enumerate(test_hosts)]
    run_id = f"bench-{trial}-{len(hosts)}"
    tasks = tuple(Task(config="c", task_id="w", role="worker", index=0, rank=i, host=h.name,
                       task_dir=f"{h.workdir}/{run_id}/w", env={"HARNESS_RUN_ID": run_id}, spec={"run_id": run_id})
                  for i, h in enumerate(hosts))
    all_running = threading.Event()
    t0 = time.monotonic()
    transports = open_transports(hosts, opts)
    bundle = build_bundle()
    fan_out({h.name: h for h in hosts}, lambda h: sync_host(transports[h.name], h, bundle, None))
    stop = threading.Event()
    took = []

    def progress(cp, states):
        if not took and all(s.state == "running" for s in states):
            took.append(time.monotonic() - t0)
            stop.set()

    with EventLog(tmp / f"control-{run_id}.jsonl") as control:
        Supervisor(ConfigPlan("c", "bench", tuple(h.name for h in hosts), tasks, 60),
                   transports, {h.name: h for h in hosts}, control, stop, progress=progress,
                   poll_interval=0.05, grace_s=2).run()
    for tr in transports.values():
        tr.close()
    return took[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="1,4,16,32")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        for n in [int(x) for x in args.sizes.split(",")]:
            with running_hosts(n, Path(d) / f"hosts{n}") as hosts:
                times = [one_launch(hosts, Path(d) / f"hosts{n}", r) for r in range(args.repeats)]
            rows[n] = times
    print(f"{'hosts':>5}  {'median s':>9}  {'min s':>7}  {'max s':>7}   (connect + sync + start, to all running)")
    for n, times in rows.items():
        print(f"{n:>5}  {statistics.median(times):>9.3f}  {min(times):>7.3f}  {max(times):>7.3f}")
    if 1 in rows and 32 in rows:
        print(f"ratio 32/1 (medians): {statistics.median(rows[32]) / statistics.median(rows[1]):.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
