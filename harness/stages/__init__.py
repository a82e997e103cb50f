"""The stages of `harness run`, in pipeline order, as data: harness/pipeline.py calls them in
this order, docs/architecture.md describes them, and tests/unit/test_layers.py holds the
modules to it. Each stage reads only what the stages before it returned."""

from __future__ import annotations

import enum


class Stage(enum.IntEnum):
    """A stage's number is its place in the pipeline; `module` is where it lives."""

    LOAD = 1      # experiment and inventory files (+ --resume run dir) → validated inputs, resume points
    PLAN = 2      # PURE: experiment × inventory → Plan (every task's host, role, rank, env, draft spec)
    CONNECT = 3   # one open transport to every host, before anything is written or started
    SYNC = 4      # code bundle, script and dataset onto each host → where they are there
    BIND = 5      # PURE: plan + sync + resume points → the final task specs (plan.json)
    EXECUTE = 6   # per configuration run, in waves: ship specs, start in order, supervise, stop
    COLLECT = 7   # pull every task directory back into runs/<id>/hosts/…, partial on failure
    REPORT = 8    # the run directory's raw files → results.csv, report.md, report.html, …

    @property
    def module(self) -> str:
        return _MODULES[self]


_MODULES = {
    Stage.LOAD: "harness.stages.load",
    Stage.PLAN: "harness.stages.plan",
    Stage.CONNECT: "harness.stages.connect",
    Stage.SYNC: "harness.stages.sync",
    Stage.BIND: "harness.stages.bind",
    Stage.EXECUTE: "harness.stages.launch",
    Stage.COLLECT: "harness.stages.collect",
    Stage.REPORT: "harness.report.write.render",
}
