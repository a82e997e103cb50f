"""Launch fan-out: wall time from the start of a run (connect to every host, sync the
code bundle, start the tasks) to every task running, for 1, 4, 16 and 32 loopback sshd
test hosts with one trivial task each. Prints the table and the 32/1 ratio (goal <= 1.5).
Also the stop time: from the stop request (what Ctrl-C sets) to every task stopped and
every host checked for leftovers of the run.

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

from harness.stages.bundle import build_bundle  # noqa: E402
from harness.config.inventory import Host  # noqa: E402
from harness.protocol.events import EventLog  # noqa: E402
from harness.stages.launch import Supervisor  # noqa: E402
from harness.stages.plan import ConfigPlan, Task  # noqa: E402
from harness.stages.sync import sync_host  # noqa: E402
from harness.transport import open_transports  # noqa: E402
from harness.transport.fanout import fan_out  # noqa: E402
from harness.protocol.spec import TaskSpec  # noqa: E402
from harness.transport.ssh import SSHOptions  # noqa: E402
from harness import sandbox  # noqa: E402


def one_launch(test_hosts, tmp: Path, trial: int) -> float:
    script = tmp / "trivial"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    st = test_hosts
    opts = SSHOptions(known_hosts=st.files[0], ssh_config=None, harness_known_hosts=tmp / "hk")
    hosts = [Host(name=f"h{i}", address=t.address, port=t.port, user=st.user, key=st.client_key,
                  python=str(script), workdir=str(tmp / f"w{i}")) for i, t in enumerate(st.hosts)]
    run_id = f"bench-{trial}-{len(hosts)}"
    tasks = tuple(Task(config="c", task_id="w", role="worker", index=0, rank=i, host=h.name,
                       task_dir=f"{h.workdir}/{run_id}/w", env={"HARNESS_RUN_ID": run_id},
                       spec=TaskSpec(run_id=run_id, experiment="bench", config="c", strategy="bench", task_id="w",
                                     role="worker", host=h.name))
                  for i, h in enumerate(hosts))
    all_running = threading.Event()
    t0 = time.monotonic()
    transports = open_transports(hosts, opts)
    t_connect = time.monotonic() - t0
    bundle = build_bundle()
    fan_out({h.name: h for h in hosts}, lambda h: sync_host(transports[h.name], h, bundle, None))
    t_sync = time.monotonic() - t0 - t_connect
    stop = threading.Event()
    took = []

    def progress(cp, states):
        if not took and all(s.state == "running" for s in states):
            took.append(time.monotonic() - t0)
            stop.set()

    with EventLog(tmp / f"control-{run_id}.jsonl") as control:
        outcome = Supervisor(ConfigPlan("c", "bench", tuple(h.name for h in hosts), tasks, 60),
                             transports, {h.name: h for h in hosts}, control, stop, progress=progress,
                             poll_interval=0.05, grace_s=2).run()
    stopped = time.monotonic() - t0 - took[0]
    assert outcome.leftovers == {}, outcome.leftovers
    for tr in transports.values():
        tr.close()
    return took[0], t_connect, t_sync, stopped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="1,4,16,32")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        for n in [int(x) for x in args.sizes.split(",")]:
            # loopback sandbox hosts: real sshd servers on 127.0.0.1 ports, no root needed
            where = Path(d) / f"hosts{n}"
            st = sandbox.up(sandbox.UpRequest(hosts=n, loopback=True, bandwidth=None, directory=str(where / "sb"),
                                              out=str(where / "sandbox.yaml"), known_hosts=str(where / "kh")))
            try:
                rows[n] = [one_launch(st, where, r) for r in range(args.repeats)]
            finally:
                sandbox.down(str(where / "sb"))
    print(f"{'hosts':>5}  {'median s':>9}  {'min s':>7}  {'max s':>7}  {'connect':>8}  {'sync':>6}  {'start':>6}"
          f"  {'stop s':>7}   (to all running; phases and stop: medians)")
    med = {}
    for n, trials in rows.items():
        totals = [t[0] for t in trials]
        c, s = statistics.median(t[1] for t in trials), statistics.median(t[2] for t in trials)
        med[n] = statistics.median(totals)
        stop = statistics.median(t[3] for t in trials)
        print(f"{n:>5}  {med[n]:>9.3f}  {min(totals):>7.3f}  {max(totals):>7.3f}  {c:>8.3f}  {s:>6.3f}  "
              f"{med[n] - c - s:>6.3f}  {stop:>7.3f}")
    if 1 in med and 32 in med:
        print(f"ratio 32/1 (medians): {med[32] / med[1]:.2f}  (goal <= 1.5)")
    print("note: every test host's sshd, shell and tar run on this machine's cores too, so the large-N figures "
          "include the servers' CPU time, which real hosts spend on their own cores")


if __name__ == "__main__":
    main()
