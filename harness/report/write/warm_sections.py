"""The report's Warm starts section: which configuration runs were forked from a zygote that
had done the imports (run_start's `warm`, harness/worker/warm.py), their start-up beside the
same configuration's cold runs, and what a warm run shares with the runs before it."""

from __future__ import annotations

from harness.protocol import stats
from harness.report.figures.analysis import RunAnalysis
from harness.report.write.blocks import NONE, Block, Heading, Para, Table, fmt_num


def warm_runs(a: RunAnalysis) -> dict[str, dict]:
    """PURE: {configuration run: the `warm` record of its first warm task} from run_start.
    A run whose zygote started in its own window (`own_zygote`) paid the imports: cold."""
    out = {}
    for t in a.run.tasks:
        rs = t.first("run_start") or {}
        if rs.get("warm") and not rs["warm"].get("own_zygote") and t.config not in out:
            out[t.config] = rs["warm"]
    return out


def warm_blocks(a: RunAnalysis) -> list[Block]:
    warm = warm_runs(a)
    if not warm:
        return []
    rows, by_config = [], {}
    for m in a.metrics:
        base = m.config.split("@")[0]
        by_config.setdefault(base, {"warm": [], "cold": []})["warm" if m.config in warm else "cold"].append(m)
    for base, runs in by_config.items():
        if not runs["warm"]:
            continue
        cold = [m.startup_s for m in runs["cold"] if m.startup_s is not None]
        hot = [m.startup_s for m in runs["warm"] if m.startup_s is not None]
        saved = [w.get("import_s") for w in (warm[m.config] for m in runs["warm"]) if w.get("import_s") is not None]
        ratio = stats.mean(hot) / stats.mean(cold) if hot and cold and stats.mean(cold) else None
        kept = sum(1 for m in runs["warm"] if (warm[m.config].get("process_tasks") or 1) > 1)
        rows.append([base, f"{len(runs['cold'])} / {len(runs['warm'])} ({kept} kept)",
                     fmt_num(stats.mean(cold)) if cold else NONE, fmt_num(stats.mean(hot)) if hot else NONE,
                     f"{100 * ratio:.0f} %" if ratio is not None else NONE,
                     fmt_num(stats.mean(saved)) if saved else NONE])
    return [
        Heading(2, "Warm starts"),
        Para("A warm run's training processes were forked from a zygote on their host that had "
             "already imported Python, TensorFlow, tf-keras, numpy and the harness's training code "
             "(once, after the configuration's first run there, outside any measured window; or, "
             "when that first run's processes are to be kept for the next, in that run's own "
             "window: its tasks waited for the imports and it counts as cold). "
             "Everything else is its own, as in a cold run: data loaded, model built, threads set "
             "and TensorFlow's runtime started in the fork. Start-up keeps its definition "
             "(config_start to the first step), so the saving shows there. A *kept* warm run "
             "went further: it ran in the processes of the same configuration's previous run on "
             "that host (harness/worker/hot.py), which kept the data in memory, the built model and "
             "optimizer and the traced step; its weights were reset to their initial values, the "
             "optimizer's state to its state before the first step and the input pipeline made "
             "again with the cold run's shuffle (the first losses equal the cold run's), and Horovod "
             "joined the run's own new rendezvous. For the comparisons between runs, a warm or kept "
             "run counts as an independent run like a cold one: it shares code, a compiled step, "
             "the allocator and thread pools with its predecessors, no state that training "
             "changes (random ops inside the step, e.g. dropout, continue their stream). An A/A "
             "pair is two configurations, each with its own kept processes."),
        Table(["Configuration", "Runs cold / warm (kept)", "Start-up cold, mean (s)", "Start-up warm, mean (s)",
               "Warm / cold", "Imports paid once (s)"], rows),
    ]
