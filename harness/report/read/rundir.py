"""Read a run directory's raw records into plain dataclasses (layout: docs/events.md):
training tasks (events.jsonl) into `RunData.tasks`, utilization samplers (role "sampler",
samples.jsonl) into `RunData.samplers`, so no figure of the training can count a sampler.

Nothing here raises on a missing or damaged file: a host that died mid-run leaves a short
events.jsonl, a torn last line or no directory at all, and that is part of what the report
has to show. Each such finding becomes a `Problem`. No TensorFlow.

Each events/samples file is read once (jsonl_files.py, through its cache): `step` and
`sample` records go into numpy columns (columns.py), the few other records stay dicts;
figures over them are array operations. A run read for the first time is parsed in two
processes (prewarm.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from harness.protocol import layout
from harness.protocol.events import read_jsonl  # noqa: F401  (re-exported for callers)
from harness.report.read import prewarm
from harness.report.read.jsonl_files import read_events, read_samples
from harness.report.read.records import SAMPLER_ROLE, SAMPLES_FILE, Problem, RunData, SamplerData, TaskData, plan_tasks


def _read_json(path: Path, rel: str, problems: list[Problem]) -> Optional[Any]:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.append(Problem(rel, f"unreadable JSON ({type(e).__name__}); ignored"))
        return None


def _bad_lines_problem(rel: str, bad: list[int], total_lines: int) -> Problem:
    if bad == [total_lines]:
        return Problem(rel, f"last line (line {total_lines}) is incomplete, as when a process "
                            f"is killed mid-write; it was skipped")
    shown = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
    return Problem(rel, f"{len(bad)} line(s) are not valid JSON records and were skipped: {shown}")


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        data = fh.read()
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _load_task(run_dir: Path, config: str, task_id: str, host: str, role: Optional[str],
               rank: Optional[int], plan_spec: Optional[dict]) -> TaskData:
    rel = layout.task_rel(host, config, task_id)
    task = TaskData(config=config, task_id=task_id, host=host, role=role, rank=rank, rel_dir=rel)
    # plan.json holds each task's final spec, shipped unchanged as task.json: no reconciling.
    if isinstance(plan_spec, dict):
        task.spec, task.spec_source = plan_spec, layout.PLAN_FILE
    tdir = run_dir / rel
    if not tdir.is_dir():
        task.problems.append(Problem(rel, "task directory is missing (nothing was pulled back "
                                          "from the host)"))
        return task
    if task.spec is None:  # a run whose plan.json is lost: the host's copy says
        spec = _read_json(tdir / layout.TASK_FILE, f"{rel}/{layout.TASK_FILE}", task.problems)
        if isinstance(spec, dict):
            task.spec, task.spec_source = spec, layout.TASK_FILE
    events_path = tdir / layout.EVENTS_FILE
    if events_path.is_file():
        _read_task_events(task, events_path, f"{rel}/{layout.EVENTS_FILE}")
    else:
        task.problems.append(Problem(f"{rel}/{layout.EVENTS_FILE}", "missing; the task left no records"))
    exit_path = tdir / layout.EXIT_CODE_FILE
    if exit_path.is_file():
        text = exit_path.read_text(encoding="utf-8", errors="replace").strip()
        try:
            task.exit_code = int(text)
        except ValueError:
            task.problems.append(Problem(f"{rel}/{layout.EXIT_CODE_FILE}", f"not an integer: {text[:40]!r}"))
    # Role and rank: the plan or launch record wins; else the worker's own records say.
    first = task.events[0] if task.events else {}
    if task.role is None:
        task.role = first.get("role") or (task.spec or {}).get("role")
    if task.rank is None:
        r = first.get("rank", (task.spec or {}).get("rank"))
        task.rank = r if isinstance(r, int) else None
    return task


def is_sampler(role: Any, task_id: str) -> bool:
    """The plan marks samplers with role "sampler"; a directory found on disk without a plan
    entry is recognised by the sampler's fixed task id."""
    return role == SAMPLER_ROLE or (role is None and task_id == "sampler")


def _load_sampler(run_dir: Path, config: str, task_id: str, host: str) -> SamplerData:
    rel = layout.task_rel(host, config, task_id)
    s = SamplerData(config=config, host=host, task_id=task_id, rel_dir=rel)
    path = run_dir / rel / SAMPLES_FILE
    if not path.is_file():
        what = "missing" if (run_dir / rel).is_dir() else "missing (no sampler directory was pulled back)"
        s.notes.append(Problem(f"{rel}/{SAMPLES_FILE}", f"{what}; no utilization figures for "
                                                        f"host {host}"))
        return s
    try:
        s.records, s.bad_lines, s.cols = read_samples(path)
        s.found = True
    except OSError as e:
        s.notes.append(Problem(f"{rel}/{SAMPLES_FILE}", f"cannot read: {e.strerror}"))
    if s.bad_lines:
        s.notes.append(_bad_lines_problem(f"{rel}/{SAMPLES_FILE}", s.bad_lines, _count_lines(path)))
    return s


def _expected_tasks(run: RunData) -> list[tuple]:
    """(config, task_id, host, role, rank, plan spec) from the plan, then from task_launch
    records (a run whose plan.json is lost still knows what it launched)."""
    seen: dict[tuple[str, str, str], tuple] = {}
    for t in plan_tasks(run.plan) + run.control_of("task_launch"):
        config, task_id, host = t.get("config"), t.get("task_id"), t.get("host")
        if not all(isinstance(v, str) and v for v in (config, task_id, host)):
            continue
        key = (config, task_id, host)
        if key not in seen:
            rank = t.get("rank")
            spec = t.get("spec") if isinstance(t.get("spec"), dict) else None
            seen[key] = (config, task_id, host, t.get("role"),
                         rank if isinstance(rank, int) else None, spec)
    return list(seen.values())


def _on_disk(run_dir: Path) -> list[tuple[str, str, str]]:
    hosts_dir = run_dir / layout.HOSTS_DIR
    if not hosts_dir.is_dir():
        return []
    found = []
    for host in sorted(p for p in hosts_dir.iterdir() if p.is_dir()):
        for config in sorted(p for p in host.iterdir() if p.is_dir()):
            for task in sorted(p for p in config.iterdir() if p.is_dir()):
                found.append((config.name, task.name, host.name))
    return found


def _read_task_events(task: TaskData, path: Path, rel: str) -> None:
    try:
        task.events, task.bad_lines = read_events(path)
        task.events_found = True
    except OSError as e:
        task.problems.append(Problem(rel, f"cannot read: {e.strerror}"))
    if task.bad_lines:
        task.problems.append(_bad_lines_problem(rel, task.bad_lines, _count_lines(path)))


def _mpi_ranks(run_dir: Path, launcher: TaskData) -> list[TaskData]:
    """Under `launcher: mpi` one task (mpirun, or an idle mpi-host task) holds the event
    files of the MPI ranks on its host, `events-rank<k>.jsonl`: one training task each,
    ending as the task that holds them ended."""
    out = []
    tdir = run_dir / launcher.rel_dir
    if not tdir.is_dir():
        return out
    for k, path in layout.rank_events_files(tdir):
        rel = f"{launcher.rel_dir}/{path.name}"
        t = TaskData(config=launcher.config, task_id=f"{launcher.task_id}/rank{k}", host=launcher.host,
                     role="worker", rank=k, rel_dir=launcher.rel_dir, spec=launcher.spec,
                     spec_source=launcher.spec_source, exit_code=launcher.exit_code)
        _read_task_events(t, path, rel)
        out.append(t)
    return out


def _jsonl_jobs(run_dir: Path, entries: list[tuple]) -> list[prewarm.Job]:
    """Every events/samples file the loop in load_run reads, with its reader."""
    jobs: list[prewarm.Job] = []
    for config, task_id, host, role in (e[:4] for e in entries):
        tdir = run_dir / layout.task_rel(host, config, task_id)
        if is_sampler(role, task_id):
            jobs.append((tdir / SAMPLES_FILE, read_samples))
        else:
            jobs.append((tdir / layout.EVENTS_FILE, read_events))
            jobs += [(path, read_events) for _, path in layout.rank_events_files(tdir)]
    return jobs


def load_run(run_dir: str | Path) -> RunData:
    """Everything the report needs from a run directory; never raises for missing files."""
    run_dir = Path(run_dir)
    run = RunData(run_dir=run_dir)
    if not run_dir.is_dir():
        run.problems.append(Problem(str(run_dir), "run directory does not exist"))
        return run
    control = run_dir / layout.CONTROL_FILE
    if control.is_file():
        run.control, bad = read_jsonl(control)
        if bad:
            run.problems.append(_bad_lines_problem(layout.CONTROL_FILE, bad, _count_lines(control)))
    else:
        run.problems.append(Problem(layout.CONTROL_FILE, "missing; launch times and task exit "
                                                     "states are unknown"))
    run.plan = _read_json(run_dir / layout.PLAN_FILE, layout.PLAN_FILE, run.problems)
    resolved = _read_json(run_dir / layout.RESOLVED_FILE, layout.RESOLVED_FILE, run.problems)
    run.resolved = resolved if isinstance(resolved, dict) else None
    run.prices = _read_json(run_dir / layout.PRICES_FILE, layout.PRICES_FILE, run.problems)

    expected = _expected_tasks(run)
    known = {e[:3] for e in expected}
    # Directories nobody planned (e.g. a run without plan.json) are still data.
    extra = [(c, t, h, None, None, None) for c, t, h in _on_disk(run_dir) if (c, t, h) not in known]
    prewarm.warm_caches(_jsonl_jobs(run_dir, expected + extra))
    for entry in expected + extra:
        config, task_id, host, role = entry[:4]
        if is_sampler(role, task_id):
            run.samplers.append(_load_sampler(run_dir, config, task_id, host))
        else:
            task = _load_task(run_dir, *entry)
            run.tasks.append(task)
            run.tasks.extend(_mpi_ranks(run_dir, task))
    # Stable order: configuration order of the run, then rank, then task id.
    order = {name: i for i, name in enumerate(run.config_names())}
    run.tasks.sort(key=lambda t: (order.get(t.config, len(order)),
                                  t.rank if t.rank is not None else 1 << 30, t.task_id, t.host))
    run.samplers.sort(key=lambda s: (order.get(s.config, len(order)), s.host))
    return run
