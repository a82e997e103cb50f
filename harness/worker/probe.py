"""Pre-flight probe, run on a host as a standalone script (its source is sent on stdin,
so it needs nothing installed but Python). Prints one JSON object. Imports no framework:
versions come from package metadata, so a probe takes milliseconds, not seconds."""

import json
import os
import shutil
import socket
import sys
import time


def _version(dist):
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def _gpus():
    # Standalone (sent on stdin, the harness may not be installed there): it cannot use
    # harness.worker.nvml, so it asks NVML for names only, itself.
    try:
        import pynvml

        pynvml.nvmlInit()
        names = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            n = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(n.decode() if isinstance(n, bytes) else str(n))
        return names, None
    except ImportError:
        return [], "nvidia-ml-py not installed"
    except Exception as e:
        return [], f"NVML unavailable: {type(e).__name__}"


def _memory_bytes():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _free_disk(path):
    p = path
    while p and not os.path.exists(p):
        p = os.path.dirname(p.rstrip("/")) or "/"
    try:
        return shutil.disk_usage(p or "/").free
    except OSError:
        return None


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As the servers that will listen there do: a port whose last connections are in
    # TIME_WAIT (a run just ended) is free to them, only a listening socket is not.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _interfaces():
    """{name: [IPv4 addresses]} with the standard library only (SIOCGIFADDR: one address each)."""
    import fcntl
    import struct

    out = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
                out[name] = [socket.inet_ntoa(raw[20:24])]
            except OSError:
                out[name] = []
    finally:
        s.close()
    return out


def _hostname_addresses():
    """What the host's own name resolves to, as Horovod's Gloo will ask (getaddrinfo)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_STREAM)
        return sorted({i[4][0] for i in infos}), None
    except OSError as e:
        return [], str(e)


def main():
    args = json.loads(os.environ.get("HARNESS_PROBE_ARGS", "{}"))
    gpus, gpu_note = _gpus()
    out = {
        "time": time.time(),
        "hostname": socket.gethostname(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        # and the packages the registry's strategies need (harness.strategies.base.Strategy.packages)
        "packages": {d: _version(d) for d in dict.fromkeys(("tensorflow", "tensorflow-cpu", "tf-keras", "horovod",
                                                            "mpi4py", "numpy", "psutil", "nvidia-ml-py",
                                                            *args.get("packages", ())))},
        "cpus": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "gpus": gpus,
        "gpu_note": gpu_note,
        "workdir": args.get("workdir"),
        "free_disk_bytes": _free_disk(args.get("workdir") or "/tmp"),
        "ports": {str(p): _port_free(p) for p in args.get("ports", [])},
    }
    out["hostname_addresses"], out["hostname_error"] = _hostname_addresses()
    try:
        out["interfaces"] = _interfaces()
    except (OSError, ImportError):
        out["interfaces"] = {}
    print(json.dumps(out))


main()
