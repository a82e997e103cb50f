"""What a user's script needs importable on a host, found from its syntax tree — the script
is never run, so a top-level `hvd.init()` or training loop does not start. PURE."""

from __future__ import annotations

import ast
from pathlib import Path

# Shipped by the harness itself (harness.callback): present on every host at run time.
SHIPPED = ("harness",)


class ScriptSyntaxError(ValueError):
    """The script does not parse: Python would refuse it on every host."""


def top_level_modules(source: str, filename: str, local: set[str] = frozenset()) -> list[str]:
    """Modules the script's top-level import statements name, in order, once each.

    Only statements directly in the module body: an import inside `try` (an optional
    dependency), `if` (e.g. only under Horovod) or a function may be meant to fail or never
    run. `from a.b import c` needs `a.b` (c may be an attribute). Relative imports, the
    harness's own package and modules that travel with the script (`local`: names of files
    and folders beside it) are left out: they are not the host's to provide."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        raise ScriptSyntaxError(f"{filename}:{e.lineno}: {e.msg}") from None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    out = []
    for n in names:
        top = n.split(".")[0]
        if top in SHIPPED or top in local or n in out:
            continue
        out.append(n)
    return out


def local_names(script: Path) -> set[str]:
    """Importable names that travel with the script: modules and packages beside it."""
    out = set()
    for p in script.parent.iterdir():
        if p.suffix == ".py":
            out.add(p.stem)
        elif p.is_dir() and (p / "__init__.py").exists():
            out.add(p.name)
    return out


def script_modules(script: str | Path) -> list[str]:
    path = Path(script)
    return top_level_modules(path.read_text(encoding="utf-8"), str(path), local_names(path))


def uses_horovod(modules: list[str]) -> bool:
    return any(m == "horovod" or m.startswith("horovod.") for m in modules)
