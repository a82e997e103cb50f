"""The tree shows the architecture and keeps it: packages in layers that import only
downwards, no import circle between modules (function-level imports included), the stages
named as data, a short top level and short files (docs/architecture.md)."""

import ast
import importlib
from pathlib import Path

from harness.stages import Stage

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "harness"

# Low to high: a package imports only packages of a lower rank (or itself). Packages of
# one rank stay independent of each other.
LAYERS = [
    ["harness", "harness.protocol"],                                       # the contract (+ __version__)
    ["harness.errors", "harness.requirements", "harness.callback", "harness.worker"],  # host side, typed errors
    ["harness.strategies"],                                                # the strategy registry; pure placements
    ["harness.config"],                                                    # validated inputs (asks the registry)
    ["harness.aws", "harness.transport"],                                  # one side effect each
    ["harness.prices", "harness.sandbox"],
    ["harness.stages"],                                                    # the run's stages, in Stage order
    ["harness.report"],                                                    # read → figures → write
    ["harness.pipeline"],                                                  # the stages, top to bottom
    ["harness.preflight", "harness.search"],                               # search: trials through the pipeline
    ["harness.cli"],
    ["harness.__main__"],
]
RANK = {p: i for i, layer in enumerate(LAYERS) for p in layer}
# Inside the report, the same rule between its three layers (stats is their shared base).
REPORT_LAYERS = ["harness.protocol.stats", "harness.report.read", "harness.report.figures", "harness.report.write"]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Modules of this package that `name` imports anywhere in the file."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for a in n.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _report_layer(module: str) -> int | None:
    for i, prefix in enumerate(REPORT_LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return i
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_package_has_a_layer():
    assert sorted({_package(m) for m in MODULES} - set(RANK)) == []


def test_no_import_circle_between_modules():
    assert _cycles(GRAPH) == []


def test_packages_import_only_lower_layers():
    upward = []
    for a, targets in GRAPH.items():
        for b in targets:
            pa, pb = _package(a), _package(b)
            if pa != pb and RANK[pb] >= RANK[pa]:
                upward.append(f"{a} -> {b}")
    assert upward == []


def test_report_read_figures_write_in_that_order():
    upward = []
    for a, targets in GRAPH.items():
        la = _report_layer(a)
        for b in targets:
            lb = _report_layer(b)
            if la is not None and lb is not None and lb > la:
                upward.append(f"{a} -> {b}")
    assert upward == []


def test_the_layer_rules_catch_what_they_are_for():
    # the rules above would fail on a circle and on an upward import (so their passing means something)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert RANK["harness.cli"] > RANK["harness.pipeline"] > RANK["harness.stages"] > RANK["harness.protocol"]


def test_stages_are_data_in_pipeline_order_and_exist():
    assert [s.name for s in Stage] == ["LOAD", "PLAN", "CONNECT", "SYNC", "BIND", "EXECUTE", "COLLECT", "REPORT"]
    for s in Stage:
        importlib.import_module(s.module)
    # pipeline.py calls them in that order: run_experiment (1-5, 8) and _execute (6-7)
    text = (PKG / "pipeline.py").read_text()
    run = text[text.index("def run_experiment"):text.index("def _execute")]
    calls = ["load_inputs(", "_plan(inputs", "connect(plan", "sync_hosts(", "bind(plan", "_execute(plan",
             "write_report("]
    where = [run.index(c) for c in calls]
    assert where == sorted(where), dict(zip(calls, where))
    execute = text[text.index("def _execute"):]
    assert execute.index("Supervisor(") < execute.index("collect_config(")


def test_a_short_top_level_and_short_files():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 8, top
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
