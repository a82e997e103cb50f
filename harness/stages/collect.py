"""Pull every task's files from its host into runs/<id>/hosts/<host>/<config>/<task>/.

Partial on failure: a host that cannot be read is recorded and the others are still
collected. The env file is removed from the host and never copied (it may hold secrets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.transport import shell
from harness.errors import HarnessError
from harness.stages.plan import ConfigPlan
from harness.protocol.layout import CHECKPOINT_DIR, ENV_FILE, local_task_dir
from harness.transport.base import Transport

SKIP_TOP = (ENV_FILE,)
SKIP_DIRS = (CHECKPOINT_DIR + "/",)   # can be large; they stay on the host


@dataclass
class CollectResult:
    files: int = 0
    bytes: int = 0
    errors: dict[str, str] = field(default_factory=dict)   # "host/config/task" -> why


def collect_config(cp: ConfigPlan, transports: dict[str, Transport], run_dir: Path,
                   unreachable: set[str] = frozenset()) -> CollectResult:
    result = CollectResult()
    for t in cp.tasks:
        key = f"{t.host}/{t.config}/{t.task_id}"
        if t.host in unreachable:
            result.errors[key] = f"host {t.host} stopped answering; its files stay in {t.task_dir} there"
            continue
        tr = transports[t.host]
        dest = local_task_dir(run_dir, t.host, t.config, t.task_id)
        try:
            for rel, size in tr.list_files(t.task_dir):
                if rel in SKIP_TOP or rel.startswith(SKIP_DIRS) or rel.endswith(".tmp"):
                    continue
                tr.get(f"{t.task_dir}/{rel}", dest / rel)
                result.files += 1
                result.bytes += size
            tr.exec(f"rm -f {shell.q(t.task_dir + '/' + ENV_FILE)}", timeout=30)
        except HarnessError as e:
            result.errors[key] = str(e)
        except OSError as e:
            result.errors[key] = f"{type(e).__name__}: {e}"
    return result
