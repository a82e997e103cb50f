"""The control side (planning, SSH, launching, collecting, reporting) never imports
TensorFlow, so `harness check` and `harness report` start in well under a second."""

import subprocess
import sys

CONTROL_MODULES = ["harness.cli.commands", "harness.pipeline", "harness.stages.plan", "harness.stages.launch", "harness.stages.collect",
                   "harness.preflight.check", "harness.stages.sync", "harness.transport.ssh", "harness.report.write.render",
                   "harness.report.write.compare", "harness.cli.hosts", "harness.cli.sandbox", "models"]


def test_control_modules_import_no_framework():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CONTROL_MODULES) +
            "bad = [m for m in ('tensorflow', 'tf_keras', 'keras', 'horovod', 'boto3') if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
