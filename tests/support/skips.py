"""Which skips a test run may have, and the check that fails the run on any other.

On this project's CI machine (root, every package run.sh installs) the suite skips
nothing. A skip listed here must exist somewhere else, and the reason says where; any
other skip is lost coverage, so the run fails and names it (tests/conftest.py)."""

from __future__ import annotations

import re

# (pattern of the skip's reason, why that skip is legitimate on some machine)
ALLOWED = [
    (r"needs root|network namespaces need root",
     "a machine where the suite does not run as root cannot make network namespaces, bridges or tc qdiscs"),
    (r"this kernel has netem",
     "a kernel with netem accepts --delay, so the refusal message for kernels without it cannot be shown"),
    (r"running as root and setpriv is missing",
     "a root run without util-linux's setpriv cannot try the command as an unprivileged user"),
]


def unexpected(reasons: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (test id, reason) pairs no ALLOWED pattern covers."""
    return [(test, why) for test, why in reasons if not any(re.search(p, why) for p, _ in ALLOWED)]
