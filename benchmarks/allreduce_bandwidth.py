"""Horovod allreduce bus bandwidth on a shaped sandbox link, measured through the harness.

Two modes in one file:

  driver (as root):   .venv/bin/python benchmarks/allreduce_bandwidth.py [--hosts 2] [--bandwidth 1gbit]
                      [--size-mb 64] [--iters 5]
      brings up a sandbox (`harness sandbox up`), runs this file as the workload `script:`
      of a horovod (gloo) configuration with one rank per sandbox host, prints rank 0's
      result and the achieved/link ratio (goal >= 0.8), and takes the sandbox down.

  rank (started by the harness with Horovod's environment):
      hvd.allreduce (sum) of a SIZE float32 tensor, 2 warm-up + ITERS timed iterations;
      rank 0 prints one `allreduce_bandwidth {json}` line.

Bus bandwidth: a ring allreduce sends (and receives) 2(n-1)/n × size per rank, so
busbw = 2(n-1)/n × size / time per allreduce, comparable with one link's rate
(the NCCL-tests convention).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "allreduce_bandwidth "


def rank_main(size_mb: float, iters: int) -> None:
    import numpy as np
    import tensorflow as tf
    import horovod.tensorflow as hvd

    hvd.init()
    n = hvd.size()
    count = int(size_mb * 1e6 / 4)
    x = tf.constant(np.ones(count, dtype=np.float32))
    for _ in range(2):  # warm-up: connections, buffers
        hvd.allreduce(x, op=hvd.Sum, name="warm").numpy()
    times = []
    for i in range(iters):
        t0 = time.perf_counter()
        y = hvd.allreduce(x, op=hvd.Sum, name="bench").numpy()
        times.append(time.perf_counter() - t0)
    assert float(y[0]) == n, y[0]
    size_bytes = count * 4
    t = sorted(times)[len(times) // 2]  # median
    bus = 2 * (n - 1) / n * size_bytes / t
    if hvd.rank() == 0:
        print(MARK + json.dumps({"ranks": n, "size_bytes": size_bytes, "iters": iters, "times_s": times,
                                 "median_s": t, "busbw_bits_per_s": bus * 8,
                                 "algbw_bits_per_s": size_bytes * 8 / t}), flush=True)


def driver(args) -> int:
    from harness import sandbox
    from harness.pipeline import run_experiment
    from harness.sandbox import shaping
    from harness.transport.ssh import SSHOptions

    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="allreduce-bw-"))
    st = sandbox.up(args.hosts, bandwidth=args.bandwidth, directory=str(tmp / "sb"), out=str(tmp / "hosts.yaml"))
    try:
        names = [h.name for h in st.hosts]
        exp = {"name": "allreduce-bw",
               "workload": {"script": str(Path(__file__).resolve()),
                            "args": ["--rank", "--size-mb", str(args.size_mb), "--iters", str(args.iters)]},
               "configurations": [{"name": "allreduce", "strategy": "horovod", "workers": len(names),
                                   "hosts": names}],
               "time_limit_s": 300}
        (tmp / "exp.yaml").write_text(yaml.safe_dump(exp))
        opts = SSHOptions(known_hosts=Path(st.files[0]), ssh_config=None, harness_known_hosts=tmp / "hk")
        res = run_experiment(str(tmp / "exp.yaml"), st.files[1], runs_root=str(tmp / "runs"),
                             run_id="allreduce-bw", ssh_options=opts)
        if res.status != "succeeded":
            print(f"run {res.status}: {res.reason} (run directory {res.run_dir})", file=sys.stderr)
            return 1
        out = (Path(res.run_dir) / "hosts" / names[0] / "allreduce" / "worker-0" / "stdout.log").read_text()
        r = json.loads(next(line for line in out.splitlines() if line.startswith(MARK))[len(MARK):])
    finally:
        sandbox.down(tmp / "sb")
    link = shaping.parse_rate(args.bandwidth)
    ratio = r["busbw_bits_per_s"] / link
    print(f"allreduce of {r['size_bytes'] / 1e6:.0f} MB float32, {r['ranks']} ranks on {r['ranks']} sandbox hosts, "
          f"link {args.bandwidth}: median {r['median_s'] * 1e3:.0f} ms over {r['iters']} iterations "
          f"({', '.join(f'{t * 1e3:.0f}' for t in r['times_s'])} ms)")
    print(f"bus bandwidth {r['busbw_bits_per_s'] / 1e6:.0f} Mbit/s, algorithm bandwidth "
          f"{r['algbw_bits_per_s'] / 1e6:.0f} Mbit/s; achieved/link = {ratio:.2f} (goal >= 0.8)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rank", action="store_true", help="run as a Horovod rank (the harness passes this)")
    p.add_argument("--hosts", type=int, default=2)
    p.add_argument("--bandwidth", default="1gbit")
    p.add_argument("--size-mb", type=float, default=64)
    p.add_argument("--iters", type=int, default=5)
    args = p.parse_args(argv)
    if args.rank:
        rank_main(args.size_mb, args.iters)
        return 0
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
