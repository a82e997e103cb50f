"""The only module that talks to NVML (package nvidia-ml-py). A host without the library,
the driver or a GPU is a fact to record, not an error."""

from __future__ import annotations

from typing import Any


def load() -> Any | None:
    """Initialised pynvml module, or None when NVML is not usable here."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound / DriverNotLoaded: no GPU stack here
        return None
    return pynvml


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def gpu_names(nv: Any | None = None) -> list[str]:
    nv = nv if nv is not None else load()
    if nv is None:
        return []
    return [_text(nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(i))) for i in range(nv.nvmlDeviceGetCount())]
