"""The control side (planning, SSH, launching, collecting, reporting) never imports
TensorFlow, so `harness check` and `harness report` start in well under a second."""

import subprocess
import sys

CONTROL_MODULES = ["harness.cli", "harness.pipeline", "harness.plan", "harness.launch", "harness.collect",
                   "harness.check", "harness.sync", "harness.transport.ssh", "harness.report.render",
                   "harness.report.compare", "harness.cli_hosts", "harness.cli_sandbox", "models"]


def test_control_modules_import_no_framework():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CONTROL_MODULES) +
            "bad = [m for m in ('tensorflow', 'tf_keras', 'keras', 'horovod', 'boto3') if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
