"""`harness check -e` for a user's script: on every host that runs it, with the task's
environment, import the modules its top-level imports name (preflight/script_imports.py;
the script itself never runs) and, for Horovod, check that the build has TensorFlow and the
controller the launcher needs. A missing module is named per host before any time is
rented for training."""

from __future__ import annotations

import json
from pathlib import Path

from harness.transport import shell

PROBE = Path(__file__).resolve().parents[1] / "worker" / "import_probe.py"
# horovod's *_built() call a launcher needs
LAUNCHER_NEEDS = {"gloo": "gloo_built", "mpi": "mpi_built"}


def probe_input(modules: list[str], env: dict[str, str], horovod: bool) -> bytes:
    """The probe's source with its arguments set in front: on stdin, so environment values
    (which may be secrets) never appear on a command line."""
    args = json.dumps({"modules": modules, "env": env, "horovod": horovod})
    return f"import json\nARGS = json.loads({args!r})\n".encode() + PROBE.read_bytes()


def interpret(script: str, rc: int, stdout: str, stderr: str, launchers: set[str]) -> list[str]:
    """PURE: one host's answer → its blockers."""
    try:
        out = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return [f"script {script}: the import check failed (exit {rc}): {tail}"]
    python = out.get("python") or "the host's python"
    problems = []
    for mod, err in (out.get("failed") or {}).items():
        hint = (f"; install it for {python} (or ship it beside the script)" if err.startswith("ModuleNotFoundError")
                else "")
        problems.append(f"script {script}: `import {mod}` fails: {err}{hint}")
    hvd = out.get("horovod")
    if hvd is not None:
        if hvd.get("error"):
            problems.append(f"script {script} uses Horovod, but `import horovod.tensorflow` fails: {hvd['error']}")
        else:
            if hvd.get("tensorflow_built") is False:
                problems.append("Horovod on this host was built without TensorFlow (hvd.tensorflow_built() is False); "
                                "rebuild it with HOROVOD_WITH_TENSORFLOW=1 (harness hosts setup --with horovod)")
            for launcher in sorted(launchers):
                need = LAUNCHER_NEEDS.get(launcher)
                if need and hvd.get(need) is False:
                    problems.append(f"Horovod on this host was built without {launcher.upper()} ({need}() is "
                                    f"False), which launcher {launcher} needs; rebuild with "
                                    f"HOROVOD_WITH_{launcher.upper()}=1")
    return problems


def check_script(script: str, modules: list[str], hosts: list, transports: dict, envs: dict[str, dict],
                 launchers: set[str], horovod: bool) -> dict[str, list[str]]:
    """Blockers per host name, the import check run on every host in parallel."""
    from harness.transport.fanout import fan_out

    def one(h):
        stdin = probe_input(modules, envs.get(h.name, {}), horovod)
        res = transports[h.name].exec(f"{shell.q(h.interpreter)} -", timeout=300, stdin=stdin)
        return interpret(script, res.returncode, res.stdout, res.stderr, launchers)

    out = {}
    for name, o in fan_out({h.name: h for h in hosts}, one).items():
        out[name] = o.value if o.error is None else [f"script {script}: the import check could not run: {o.error}"]
    return out
