"""The only module that talks to NVML (package nvidia-ml-py). A host without the library,
the driver or a GPU is a fact to record, not an error."""

from __future__ import annotations

from typing import Any


def load_with_reason() -> tuple[Any | None, str | None]:
    """(initialised pynvml module, None), or (None, why NVML is not usable here)."""
    try:
        import pynvml
    except ImportError as e:
        return None, f"pynvml not importable: {e}"
    try:
        pynvml.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound / DriverNotLoaded: no GPU stack here
        return None, f"nvmlInit failed: {type(e).__name__}: {e}"
    return pynvml, None


def load() -> Any | None:
    """Initialised pynvml module, or None when NVML is not usable here."""
    return load_with_reason()[0]


def shutdown(nv: Any | None) -> None:
    if nv is None:
        return
    try:
        nv.nvmlShutdown()
    except Exception:
        pass


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def gpu_names(nv: Any | None = None) -> list[str]:
    nv = nv if nv is not None else load()
    if nv is None:
        return []
    return [_text(nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(i))) for i in range(nv.nvmlDeviceGetCount())]


def gpu_name(nv: Any, handle: Any) -> str | None:
    try:
        return _text(nv.nvmlDeviceGetName(handle))
    except Exception:
        return None


def gpu_handles(nv: Any) -> list[Any]:
    """Device handles by index, looked up once: the sampler reuses them every interval."""
    return [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]


def _guard(fn, *args) -> Any:
    # One failing query (unsupported on this board, GPU fell off the bus) is a null
    # field, never a lost sample.
    try:
        return fn(*args)
    except Exception:
        return None


def gpu_readings(nv: Any, handles: list[Any] | None = None) -> list[dict]:
    """Per GPU: index, util_percent, mem_used_bytes, mem_total_bytes, power_w,
    temperature_c, sm_clock_mhz; each reading None when its query fails."""
    if handles is None:
        handles = _guard(gpu_handles, nv) or []
    out = []
    for i, h in enumerate(handles):
        util = _guard(nv.nvmlDeviceGetUtilizationRates, h)
        mem = _guard(nv.nvmlDeviceGetMemoryInfo, h)
        power_mw = _guard(nv.nvmlDeviceGetPowerUsage, h)
        out.append({
            "index": i,
            "util_percent": _guard(lambda: float(util.gpu)) if util is not None else None,
            "mem_used_bytes": _guard(lambda: int(mem.used)) if mem is not None else None,
            "mem_total_bytes": _guard(lambda: int(mem.total)) if mem is not None else None,
            "power_w": power_mw / 1000.0 if isinstance(power_mw, (int, float)) else None,
            "temperature_c": _guard(lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
            "sm_clock_mhz": _guard(lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
        })
    return out
