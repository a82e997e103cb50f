"""Run on a host as a standalone script (sent on stdin after one line that sets ARGS): import
each module the user's script names at its top level, with the task's environment, and
say which fail and why; for Horovod, which frameworks and controllers its build has.
The user's script itself is never run. Prints one JSON object."""

import importlib
import json
import os
import sys
import traceback

ARGS = globals().get("ARGS") or {}


def _one_line(e: BaseException) -> str:
    last = traceback.format_exception_only(type(e), e)[-1].strip()
    return last.splitlines()[0][:300]


def _horovod() -> dict:
    try:
        import horovod.tensorflow as hvd
    except Exception as e:
        return {"error": _one_line(e)}
    out = {}
    for name in ("tensorflow_built", "gloo_built", "mpi_built", "nccl_built"):
        fn = getattr(hvd, name, None)
        try:
            out[name] = bool(fn()) if fn else None
        except Exception as e:
            out[name] = None
            out[f"{name}_error"] = _one_line(e)
    return out


def main() -> None:
    os.environ.update(ARGS.get("env") or {})
    failed = {}
    for name in ARGS.get("modules") or []:
        try:
            importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001  (a module may even call sys.exit)
            failed[name] = _one_line(e)
    out = {"python": sys.executable, "failed": failed}
    if ARGS.get("horovod"):
        out["horovod"] = _horovod()
    sys.stdout.flush()
    print("\n" + json.dumps(out))


main()
