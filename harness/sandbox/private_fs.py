"""Private filesystems for sandbox hosts: what a real host does not share with the control
side (its /tmp, home directories, the control side's checkout and working directory) is
covered with an empty tmpfs in the host's own mount namespace, so a run that works in the
sandbox does not work only because a file happened to be visible on both sides.

What the host itself needs stays visible: its own sandbox directory (sshd config, keys,
HOME, workdir) and its Python (the interpreter's prefix and base prefix), bound back over
the tmpfs from file descriptors opened before it was mounted. PURE command builders."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

# Never shared with a separate machine; the control side's checkout and cwd are added.
ALWAYS_HIDDEN = ("/tmp", "/var/tmp", "/root", "/home", "/mnt", "/srv")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def plan(hide: list[str], keep: list[str]) -> tuple[list[str], list[str]]:
    """PURE: the outermost directories to cover, and the kept directories that lie under
    one of them (others stay visible anyway), outermost first."""
    hide = sorted({os.path.normpath(h) for h in hide if h and os.path.normpath(h) != "/"})
    outer = [h for h in hide if not any(o != h and _under(h, o) for o in hide)]
    keep = sorted({os.path.normpath(k) for k in keep if k})
    kept = [k for k in keep if any(_under(k, o) for o in outer)]
    kept = [k for k in kept if not any(o != k and _under(k, o) for o in kept)]
    return outer, kept


def mount_script(hide: list[str], keep: list[str]) -> str:
    """PURE: sh commands, run in a new mount namespace before sshd starts. Kept folders are
    opened first (fd 3, 4, …) and bound back by /proc/self/fd: after the tmpfs their paths
    name the empty tmpfs. `mount -c` keeps mount(8) from resolving the fd link to that path."""
    outer, kept = plan(hide, keep)
    q = shlex.quote
    lines = ["mount --make-rprivate /"]
    lines += [f"exec {3 + i}<{q(k)}" for i, k in enumerate(kept)]
    lines += [f"mount -t tmpfs -o mode=1777 harness-private {q(o)}" for o in outer]
    for i, k in enumerate(kept):
        lines += [f"mkdir -p {q(k)}", f"mount -c --bind /proc/self/fd/{3 + i} {q(k)}", f"exec {3 + i}<&-"]
    return " && ".join(lines)


def python_prefixes(python: str) -> list[str]:
    """The folders an interpreter needs: its sys.prefix (a venv) and sys.base_prefix."""
    r = subprocess.run([python, "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
                       capture_output=True, text=True, timeout=60)
    out = [line for line in r.stdout.splitlines() if line.strip()]
    return out + [str(Path(python).resolve().parent.parent)]


def control_side_dirs() -> list[str]:
    """This checkout and the current directory: where the control side's files are."""
    import harness

    return [*ALWAYS_HIDDEN, str(Path(harness.__file__).resolve().parent.parent), os.getcwd()]


def checkouts_around(prefixes: list[str]) -> list[str]:
    """A venv inside a harness checkout (./.venv, as run.sh makes it) is kept, but the
    checkout around it is the control side's: its editable install must not be importable."""
    out = []
    for p in prefixes:
        parent = Path(p).parent
        if (parent / "harness" / "__init__.py").is_file():
            out.append(str(parent))
    return out
