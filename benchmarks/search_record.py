"""Record the fully measured grid that benchmarks/search.py replays searches against.

Needs root and a network-namespace sandbox of 5 hosts (`harness sandbox up --hosts 5 --dir D
--out INV`). For each stand-in instance type the five hosts get a CPU quota scaled to the
type's vCPUs (`fault cpu`, cgroups) and a link rate scaled to its network performance
(`fault slow`, tc), an inventory that names the type (so the report prices it from the
catalog) and one `harness run` of every strategy × worker count, with repeats. Then every
counted run's figures are written as one row each to benchmarks/data/search_grid.json.

    sudo python benchmarks/search_record.py --dir D --inventory INV --runs-dir R [--types c5.large,…]
    python benchmarks/search_record.py --extract-only --runs-dir R     # rows again from the runs
    sudo python benchmarks/search_record.py --dir D --inventory INV --runs-dir R2 --types c6i.xlarge --add
        # one more type; the rows of the others are kept as recorded
    sudo python benchmarks/search_record.py --dir D25 --inventory INV25 --live-inventory OUT
        # a 25-host sandbox as the grid's five types (5 hosts each) for a live `harness search`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "data" / "search_grid.json"
CORES_PER_VCPU = 0.075          # 2 vCPUs → 0.15 of this machine's cores, 4 → 0.3
MBIT_PER_GBIT = 10              # "Up to 10 Gigabit" → 100mbit
# The grid was recorded with the kernel's 100 ms CFS period, before `fault cpu` defaulted to
# 10 ms (harness/sandbox/cpu_quota.py): every host measured against it (--add, the live
# sandbox) gets the same period, or its quota would act differently from the grid's.
GRID_PERIOD_MS = "100"
TYPES = {   # name: (vCPUs, network Gbit/s) from harness/prices/instance-facts.csv
    "c5.large": (2, 10), "c7i.large": (2, 12.5), "c5.xlarge": (4, 10), "c7i.xlarge": (4, 12.5),
    "c6i.xlarge": (4, 12.5),   # added later (--add): c5.xlarge's price, c7i.xlarge's link
}
LIVE_TYPES = ("c5.large", "c7i.large", "c5.xlarge", "c7i.xlarge", "c6i.xlarge")   # the live sandbox, 5 hosts each
WORKERS = (2, 3, 4)
WORKLOAD = {
    "model": "cifar10_cnn",
    "dataset": {"name": "synthetic", "shape": [32, 32, 3], "classes": 10, "samples": 6000,
                "validation_split": 0.2},
    "batch_size": 32, "epochs": 1, "steps_per_epoch": 35, "learning_rate": 0.05, "optimizer": "momentum",
    "warmup_steps": 5, "calibration_steps": 10,
}
THREADS = {"intra_op": 1, "inter_op": 1, "omp": 1}


def configurations() -> list[dict]:
    hosts = [f"sb{i}" for i in range(5)]
    out = [{"name": "single-1", "strategy": "single", "hosts": ["sb0"], "threads": THREADS}]
    for w in WORKERS:
        out.append({"name": f"horovod-{w}", "strategy": "horovod", "workers": w, "hosts": hosts[:w],
                    "threads": THREADS})
    for w in WORKERS:   # the ps on a host of its own (sb4), workers on sb0…
        out.append({"name": f"parameter_server-{w}", "strategy": "parameter_server", "workers": w, "ps": 1,
                    "ps_hosts": ["sb4"], "hosts": [*hosts[:w], "sb4"], "threads": {**THREADS, "inter_op": 2}})
    return out


def experiment(itype: str, repeats: int) -> dict:
    return {"name": f"grid-{itype.replace('.', '-')}", "workload": WORKLOAD, "configurations": configurations(),
            "repeats": repeats, "order": "interleaved", "time_limit_s": 900, "min_effect": 0.05}


def inventory(base: dict, itype: str, rate: str) -> dict:
    inv = json.loads(json.dumps(base))
    inv.setdefault("defaults", {})["instance_type"] = itype
    for h in inv["hosts"]:
        h["instance_type"] = itype
        h.setdefault("labels", {})["rate"] = rate
    return inv


def _harness(*args: str, check: bool = True) -> int:
    return subprocess.run([sys.executable, "-m", "harness", *args], check=check, cwd=REPO).returncode


def record(args) -> None:
    base = yaml.safe_load(Path(args.inventory).read_text())
    runs = Path(args.runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    for itype in args.types.split(","):
        vcpus, gbit = TYPES[itype]
        cores, rate = vcpus * CORES_PER_VCPU, f"{int(gbit * MBIT_PER_GBIT)}mbit"
        for i in range(5):
            _harness("sandbox", "fault", f"sb{i}", "cpu", f"{cores:g}", "--period-ms", GRID_PERIOD_MS, "--dir", args.dir)
            _harness("sandbox", "fault", f"sb{i}", "slow", rate, "--dir", args.dir)
        inv, exp = runs / f"{itype}.hosts.yaml", runs / f"{itype}.experiment.yaml"
        inv.write_text(yaml.safe_dump(inventory(base, itype, rate)))
        exp.write_text(yaml.safe_dump(experiment(itype, args.repeats), sort_keys=False))
        run_id = f"grid-{itype}"
        t0 = time.time()
        _harness("run", "--hosts", str(inv), "--known-hosts", str(Path(args.dir) / "known_hosts"),
                 "-e", str(exp), "--runs-dir", str(runs), "--run-id", run_id, "--keep-going",
                 check=False)   # a failed configuration run is left out of the rows, the others kept
        print(f"{itype}: {cores:g} cores, {rate}: {time.time() - t0:.0f} s", flush=True)


def live_inventory(args) -> None:
    """Hosts sb0…sb24 as the grid's types, five each, quotas (and their period) and rates as recorded."""
    base = yaml.safe_load(Path(args.inventory).read_text())
    hosts = base["hosts"]
    types = list(LIVE_TYPES)
    if len(hosts) < 5 * len(types):
        raise SystemExit(f"{args.inventory}: {len(hosts)} hosts; the live space needs {5 * len(types)}")
    for i, h in enumerate(hosts[:5 * len(types)]):
        itype = types[i // 5]
        vcpus, gbit = TYPES[itype]
        rate = f"{int(gbit * MBIT_PER_GBIT)}mbit"
        _harness("sandbox", "fault", h["name"], "cpu", f"{vcpus * CORES_PER_VCPU:g}", "--period-ms", GRID_PERIOD_MS,
                 "--dir", args.dir)
        _harness("sandbox", "fault", h["name"], "slow", rate, "--dir", args.dir)
        h["instance_type"] = itype
        h.setdefault("labels", {})["rate"] = rate
    base["hosts"] = hosts[:5 * len(types)]
    Path(args.live_inventory).write_text(yaml.safe_dump(base))
    print(f"inventory for the live search: {args.live_inventory}")


def extract(runs_dir: Path) -> list[dict]:
    from harness.report.figures.analysis import analyze_dir
    from harness.report.figures.repeats import run_infos

    rows = []
    for d in sorted(runs_dir.glob("grid-*")):
        if not (d / "control.jsonl").is_file():
            continue
        a = analyze_dir(d)
        infos = run_infos(a.run)
        parts = {p.label: p for p in (a.bill.parts if a.bill else [])}
        for m, cost, sc in zip(a.metrics, a.costs, a.scaling):
            info = infos.get(m.config)
            if m.status != "succeeded" or info is None or not info.counted or not m.step_time_mean_s:
                continue
            itype = next(iter(m.instance_types.values()))
            part = parts.get(m.config)
            direct = sc.comm.direct if sc.comm is not None else None
            rows.append({
                "run": d.name, "config": info.config, "repeat": info.repeat, "instance_type": itype,
                "strategy": m.strategy, "workers": int(m.workers or 1), "ps": int(m.ps or 0),
                "hosts": len(set(m.hosts)), "batch_size": WORKLOAD["batch_size"],
                "step_time_s": m.step_time_mean_s, "throughput_images_per_s": m.throughput_images_per_s,
                "t_compute_s": direct.t_compute_s if direct else m.step_time_mean_s,
                "gradient_bytes": sc.comm.gradient_bytes if sc.comm is not None else None,
                "link_bits_per_s": sc.comm.link_bits_per_s if sc.comm is not None else None,
                "startup_s": m.startup.total_s if m.startup else None,
                "usd_per_host_hour": cost.on_demand.rate.usd_per_hour / max(1, len(set(m.hosts)))
                if cost.on_demand.rate.usd_per_hour else None,
                "measure_host_s": part.host_seconds if part else None,
                "measure_usd": part.on_demand_usd if part else None,
            })
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="the sandbox's directory")
    ap.add_argument("--inventory", help="the sandbox's inventory")
    ap.add_argument("--runs-dir", required=True)
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--extract-only", action="store_true")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--add", action="store_true",
                    help="keep the rows already in --out for the types not recorded now (extend the grid)")
    ap.add_argument("--live-inventory", help="set up a 20-host sandbox as the grid's types; write this inventory")
    args = ap.parse_args(argv)
    if args.live_inventory:
        live_inventory(args)
        return 0
    if not args.extract_only:
        record(args)
    rows = extract(Path(args.runs_dir))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    kept, notes = [], None
    if args.add and Path(args.out).is_file():   # the earlier types' rows as they were recorded, not re-derived
        old = json.loads(Path(args.out).read_text())
        new_types = {r["instance_type"] for r in rows}
        kept = [r for r in old["rows"] if r["instance_type"] not in new_types]
        notes = old.get("notes")
    rows = kept + rows
    meta = {"recorded_with": "sudo python benchmarks/search_record.py (sandbox of 5 netns hosts; "
                             f"{CORES_PER_VCPU} cores per vCPU, {MBIT_PER_GBIT} Mbit/s per Gbit/s of the type)",
            "workload": WORKLOAD, "types": {t: TYPES[t] for t in sorted({r["instance_type"] for r in rows})},
            "rows": rows}
    if notes:
        meta["notes"] = notes
    Path(args.out).write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{len(rows)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
