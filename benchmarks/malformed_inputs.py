"""The malformed-input corpus (benchmarks/malformed_corpus.py), tried as a new user would:
`python -m harness run --experiment … --hosts … --runs-dir …` in a fresh process per case.
Counts the cases that give exactly one line on stderr, exit 2 and nothing written under
the runs directory, and lists every case that does not, with what it did instead.

    .venv/bin/python benchmarks/malformed_inputs.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from malformed_corpus import CASES, materialize  # noqa: E402  (beside this file)


def main() -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    good, bad, per_class = 0, [], Counter()
    for name, case in sorted(CASES.items()):
        with tempfile.TemporaryDirectory() as d:
            e, h = materialize(case, Path(d))
            runs = Path(d) / "runs"
            p = subprocess.run([sys.executable, "-m", "harness", "run", "--experiment", e, "--hosts", h,
                                "--runs-dir", str(runs)], capture_output=True, text=True, env=env, cwd=d,
                               timeout=300)
            lines = p.stderr.strip().splitlines()
            ok = p.returncode == 2 and len(lines) == 1 and case.expect in lines[0] and not runs.exists()
            per_class[case.cls] += 1
            if ok:
                good += 1
            else:
                bad.append(f"  {name}: exit {p.returncode}, {len(lines)} stderr line(s), runs dir "
                           f"{'written' if runs.exists() else 'not written'}: {(lines or [''])[-1][:200]}")
    print("cases per class: " + ", ".join(f"{k} {v}" for k, v in sorted(per_class.items())))
    print(f"{len(CASES)} cases, {good} give one line + exit 2 + nothing written")
    print("\n".join(bad))
    return 0 if good == len(CASES) else 1


if __name__ == "__main__":
    sys.exit(main())
