"""The cgroup file systems inside a sandbox host.

`ip netns exec` gives the host a mount namespace with a fresh /sys, in which /sys/fs/cgroup
is empty: a process there could not see its own CPU quota or memory limit, where on a
real host (or in a container) the cgroup hierarchies are mounted. The host's sshd
therefore mounts this machine's hierarchies again, at the same places, before it starts
(harness/sandbox/sshd.spawn_argv), so the sampler reads its limits as it would on EC2."""

from __future__ import annotations

import shlex
from pathlib import Path

_SKIP = {"rw", "ro"}


def mounts(mountinfo: str) -> list[tuple[str, str, str]]:
    """PURE. (fstype, options, mount point) of every cgroup mount in a mountinfo text, and
    the tmpfs they sit on; options are what `mount -o` needs to attach the same hierarchy."""
    out = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if not sep or len(f) < 5 or len(r) < 3:
            continue
        point, fstype, options = f[4], r[0], r[2]
        if fstype == "cgroup":
            opts = [o for o in options.split(",") if o not in _SKIP]
            if any(o.startswith("name=") for o in opts):
                opts = ["none", *opts]
            out.append((fstype, ",".join(opts), point))
        elif fstype == "cgroup2":
            out.append((fstype, "", point))
        elif fstype == "tmpfs" and point == "/sys/fs/cgroup":
            out.append((fstype, "mode=755", point))
    return out


def mount_script(ms: list[tuple[str, str, str]]) -> str:
    """PURE. A shell line mounting `ms` (tmpfs first), each only where nothing is mounted yet;
    a mount that fails is skipped (the host then reads no limits, as before)."""
    ms = sorted(ms, key=lambda m: (m[0] != "tmpfs", m[2]))
    parts = []
    for fstype, opts, point in ms:
        o = f"-o {shlex.quote(opts)} " if opts else ""
        q = shlex.quote(point)
        parts.append(f"{{ mountpoint -q {q} || {{ mkdir -p {q} && mount -t {fstype} {o}{fstype} {q}; }} }} 2>/dev/null")
    return "; ".join(parts)


def script_for_this_machine() -> str:
    try:
        return mount_script(mounts(Path("/proc/self/mountinfo").read_text()))
    except OSError:
        return ""
