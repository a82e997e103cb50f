"""The host side needs only what hosts get: everything under harness/worker/ (and
harness/protocol/, harness/callback.py, models/) imports only the standard library, the
TRAIN packages (numpy, TensorFlow, Horovod, ...) and harness.protocol; never a control-side
module, so never pydantic or PyYAML, which `harness hosts setup` does not install."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST_SIDE = [*sorted((ROOT / "harness" / "worker").rglob("*.py")), *sorted((ROOT / "harness" / "protocol").glob("*.py")),
             ROOT / "harness" / "callback.py", *sorted((ROOT / "models").glob("*.py"))]
# Our own packages a host may import; everything else under `harness.` is the control side.
HOST_PACKAGES = ("harness.worker", "harness.protocol", "harness.callback", "models")
STDLIB_ONLY = ("harness.protocol",)


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names, function-level imports included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:   # relative: resolve against this module's package
                base = _module(path).split(".")[: -node.level if path.name != "__init__.py" else None]
                if path.name != "__init__.py" and node.level > 1:
                    base = base[: -(node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out += [(node.lineno, f"{name}.{a.name}") for a in node.names if name in ("harness", "models")]
    return out


def _is_control_side(name: str) -> bool:
    if name in ("harness", "models"):
        return False
    if name.startswith("harness.") or name.startswith("models."):
        return not name.startswith(HOST_PACKAGES)
    return name.split(".")[0] in ("pydantic", "yaml", "paramiko", "rich", "matplotlib")


def test_no_host_side_module_imports_a_control_side_one():
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {name}"
           for p in HOST_SIDE for line, name in _imports(p) if _is_control_side(name)]
    assert bad == [], "\n".join(bad)


def test_protocol_is_standard_library_only():
    stdlib = set(sys.stdlib_module_names)
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {name}"
           for p in HOST_SIDE if _module(p).startswith(STDLIB_ONLY)
           for line, name in _imports(p)
           if name.split(".")[0] not in stdlib and not name.startswith("harness.protocol") and name != "__future__"]
    assert bad == [], "\n".join(bad)


def test_the_check_itself_catches_a_control_side_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from harness.strategies.horovod import mpirun_argv\nimport yaml\n")
    assert sorted(n for _, n in _imports(bad) if _is_control_side(n)) == ["harness.strategies.horovod", "yaml"]


BLOCKER = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pydantic", "yaml"):
            raise ImportError("blocked for this test: " + name)
sys.meta_path.insert(0, Blocked())
"""


def test_every_host_side_module_imports_with_pydantic_and_yaml_blocked():
    # models/ itself imports TensorFlow (slow); its import rules are checked statically above.
    modules = [_module(p) for p in HOST_SIDE if not _module(p).startswith("models")]
    code = BLOCKER + "".join(f"import {m}\n" for m in modules) + (
        "control = sorted(m for m in sys.modules if m.startswith('harness.') and not m.startswith("
        f"{HOST_PACKAGES!r}))\n"
        "print('CONTROL:' + ','.join(control))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    # (probe.py is a script fed to a host's python: importing it runs it, and it prints facts.)
    assert out.stdout.strip().splitlines()[-1] == "CONTROL:", f"control-side modules were imported: {out.stdout}"
    # The blocker does block: a control-side module fails under it.
    out = subprocess.run([sys.executable, "-c", BLOCKER + "import harness.config\n"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode != 0 and "blocked for this test" in out.stderr
