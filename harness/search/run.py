"""`harness search`: waves of trials, each a normal `harness run` of the wave's points as
configurations on disjoint hosts, until decide() says stop (docs/search.md).

runs/<search-id>/ holds search.json (the settings, every trial with its figures and cost,
every wave and why it was chosen), waves/<k>.yaml (the experiment each wave ran) and
trials/ (the wave's run directories, full runs with their reports); `--resume` reads
search.json and continues with more budget. A trial's cost is its run's whole bill (set-up,
collection and idle hosts included), split over the wave's configurations in proportion to
their attributable parts."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

import yaml

from harness.config import load_experiment, load_inventory
from harness.errors import UsageError
from harness.report.figures.perf_model import Point
from harness.search.decide import Decision, Settings, Trial, decide, spent
from harness.search.goal import Goal
from harness.search.space import Space, assign, build, config_name

STATE_FILE = "search.json"


def load_space(experiment: str, hosts: str):
    from harness.prices import load_catalog
    from harness.prices.facts import load_facts

    exp = load_experiment(experiment)
    if exp.search is None:
        raise UsageError(f"{experiment}: no search: section; add one (docs/search.md) or use `harness run`")
    if exp.workload.batch_size is None:
        raise UsageError(f"{experiment}: workload.batch_size: a search needs the batch per worker")
    inv = load_inventory(hosts)
    space = build(exp.search, inv, exp.workload.batch_size, load_facts(), load_catalog(), f"{experiment}: search")
    return exp, inv, space


def settings_of(exp, budget: float, host_hours: bool) -> Settings:
    s = exp.search
    w = exp.workload
    steps = (w.steps_per_epoch or 50) * (w.epochs or 1) + w.calibration_steps
    return Settings(Goal(s.goal, s.target_images, s.deadline_s, s.usd_cap), budget, exp.min_effect, s.confidence,
                    s.wave, steps, host_hours=host_hours)


def wave_experiment(exp_path: str, exp, space: Space, wave: list[Point], name: str) -> dict:
    raw = yaml.safe_load(Path(exp_path).read_text())
    raw.pop("search", None)
    raw["name"] = name
    raw["configurations"] = assign(wave, space.hosts)
    raw["repeats"], raw["warmup_run"] = 1, False
    raw["parallel"] = len(wave) > 1
    for key in ("workload",):   # relative dataset/script paths: made absolute, the wave file lives elsewhere
        wl = raw.get(key) or {}
        if exp.workload.script:
            wl["script"] = exp.workload.script
        if exp.workload.dataset is not None and exp.workload.dataset.path:
            wl.setdefault("dataset", {})["path"] = exp.workload.dataset.path
    return raw


def trials_of(run_dir: Path, space: Space) -> tuple[list[Trial], float, float]:
    """One trial per succeeded configuration of a wave's run; its cost: the run's whole bill
    split in proportion to the configurations' attributable parts. Also what the failed
    ones cost ($, host-seconds): paid, nothing learnt."""
    from harness.report.figures.analysis import analyze_dir
    from harness.search.space import find

    a = analyze_dir(run_dir)
    parts = {p.label: p for p in (a.bill.parts if a.bill else [])}
    own = {m.config: parts[m.config] for m in a.metrics if m.config in parts}
    total_usd = a.bill.on_demand_usd if a.bill and a.bill.on_demand_usd is not None else None
    total_s = sum(p.host_seconds for p in (a.bill.parts if a.bill else []))
    own_s = sum(p.host_seconds for p in own.values()) or 1.0
    out, lost_usd, lost_s = [], 0.0, 0.0
    for m, sc in zip(a.metrics, a.scaling):
        p = find(space, m.config)
        share = own[m.config].host_seconds / own_s if m.config in own else 0.0
        if p is None or m.status != "succeeded" or not m.step_time_mean_s:
            lost_usd += (total_usd or 0.0) * share
            lost_s += total_s * share
            continue
        direct = sc.comm.direct if sc.comm is not None else None
        usd = (total_usd or 0.0) * share
        out.append(Trial(p, m.step_time_mean_s, direct.t_compute_s if direct else None,
                         float(sc.comm.gradient_bytes) if sc.comm is not None and sc.comm.gradient_bytes else None,
                         total_s * share, usd, f"{run_dir.name}/{m.config}"))
    return out, lost_usd, lost_s


def _trial_json(t: Trial) -> dict:
    d = asdict(t)
    d["point"] = asdict(t.point)
    return d


def _trial_from(d: dict) -> Trial:
    return Trial(**{**d, "point": Point(**d["point"])})


def load_state(search_dir: Path) -> dict:
    f = search_dir / STATE_FILE
    if not f.is_file():
        raise UsageError(f"{search_dir}: not a search directory (no {STATE_FILE}); pass runs/<search-id>")
    return json.loads(f.read_text())


def _save(search_dir: Path, state: dict) -> None:
    tmp = search_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    tmp.replace(search_dir / STATE_FILE)


def search(experiment: str, hosts: str, search_dir: Path, budget: float, host_hours: bool = False,
           resume: bool = False, run_options: Optional[dict] = None,
           say: Callable[[str], None] = print) -> tuple[Decision, list[Trial], Space, Settings]:
    from harness.pipeline import run_experiment

    exp, _, space = load_space(experiment, hosts)
    trials: list[Trial] = []
    state = {"experiment": str(Path(experiment).resolve()), "hosts": str(Path(hosts).resolve()),
             "budget": budget, "host_hours": host_hours, "trials": [], "waves": []}
    if resume:
        state = load_state(search_dir)
        trials = [_trial_from(t) for t in state["trials"]]
        state["budget"] = float(state["budget"]) + budget
        host_hours = bool(state["host_hours"])
    elif search_dir.exists():
        raise UsageError(f"{search_dir}: already exists; choose another --search-id or continue it with --resume")
    search_dir.mkdir(parents=True, exist_ok=True)
    _save(search_dir, state)
    while True:
        # failed trials were paid for: what they cost comes off the budget
        lost = state.get("lost_host_s", 0.0) / 3600 if host_hours else state.get("lost_usd", 0.0)
        settings = settings_of(exp, float(state["budget"]) - lost, host_hours)
        d = decide(space, settings, trials)
        if not d.wave:
            state["status"], state["reason"] = "done", d.reason
            _save(search_dir, state)
            return d, trials, space, settings_of(exp, float(state["budget"]), host_hours)
        k = len(state["waves"]) + 1
        name = f"{exp.name}-w{k}"
        wave_file = search_dir / "waves" / f"{k}.yaml"
        wave_file.parent.mkdir(exist_ok=True)
        wave_file.write_text(yaml.safe_dump(wave_experiment(experiment, exp, space, d.wave, name), sort_keys=False))
        say(f"wave {k} ({d.phase}): {', '.join(p.key for p in d.wave)} — {d.reason}")
        result = run_experiment(str(wave_file), hosts, runs_root=str(search_dir / "trials"), run_id=f"wave-{k}",
                                keep_going=True, **(run_options or {}))
        got, lost_usd, lost_s = trials_of(result.run_dir, space)
        state["lost_usd"] = state.get("lost_usd", 0.0) + lost_usd
        state["lost_host_s"] = state.get("lost_host_s", 0.0) + lost_s
        failed = sorted({config_name(p) for p in d.wave} - {config_name(t.point) for t in got})
        if failed:   # a failed trial is paid for and not measured: drop the point
            space.points = [p for p in space.points if config_name(p) not in failed]
            say(f"  failed, dropped from the space: {', '.join(failed)}")
        trials += got
        state["trials"] = [_trial_json(t) for t in trials]
        state["waves"].append({"wave": k, "phase": d.phase, "points": [p.key for p in d.wave], "reason": d.reason,
                               "run": str(result.run_dir), "status": result.status, "failed": failed})
        _save(search_dir, state)
        unit = "host-h" if host_hours else "$"
        lost = state["lost_host_s"] / 3600 if host_hours else state["lost_usd"]
        say(f"  {result.status}; spent {spent(trials, host_hours) + lost:.4g} {unit} of {state['budget']:.4g} {unit}")
        if math.isfinite(d.f_best) and d.best is not None:
            say(f"  best so far: {d.best.key} ({d.f_best:.4g} {settings.goal.unit})")
