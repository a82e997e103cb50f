"""Facts about the host a task runs on, recorded once in its run_start event."""

from __future__ import annotations

import os
import platform
import socket

from harness.worker import nvml


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_facts() -> dict:
    facts = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": None,
        "memory_bytes": None,
        "gpus": nvml.gpu_names(),
        # Same boot id = same kernel: hosts that share one machine's cores (containers,
        # network namespaces such as the sandbox's). The report's oversubscription check.
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
    }
    try:
        import psutil

        facts["cores_physical"] = psutil.cpu_count(logical=False)
        facts["memory_bytes"] = psutil.virtual_memory().total
    except ImportError:
        pass
    return facts


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def process_start_wall() -> float | None:
    """When the OS started this process (Unix seconds), so start-up time includes the
    interpreter's own start before our first line ran."""
    try:
        import psutil

        return psutil.Process().create_time()
    except ImportError:
        return None
