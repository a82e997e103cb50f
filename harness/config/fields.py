"""Bounded field types shared by the experiment and the inventory. PURE.

Every number has an upper bound a real setup stays far below (a typo of a few zeros is
refused at load, not found as an out-of-memory on the hosts), and every name or path that
reaches a terminal line, a shell or a file name refuses control characters: a newline,
carriage return or ESC in a host name or label could forge a progress line."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# C0 controls (newline, CR, tab, ESC, ...), DEL and the C1 controls (0x9b starts an escape
# sequence on some terminals).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

PATH_MAX = 4096            # Linux PATH_MAX
MAX_THREADS = 1024         # per process; more than any machine's cores
MAX_WORKERS = 1024         # training processes in one configuration
MAX_PS = 256
MAX_HOSTS = 1024
MAX_CONFIGURATIONS = 256   # after sweeps are expanded; each is a separate training run
MAX_BATCH = 1 << 16
MAX_DIM = 4096             # pixels per side, values per axis
MAX_ELEMENTS = 1 << 24     # values per example (e.g. 4096 x 4096 x 1)
MAX_SAMPLES = 10_000_000
MAX_STEPS = 10_000_000
MAX_SECONDS = 7 * 24 * 3600
MAX_PRICE_PER_HOUR = 10_000.0  # USD; the largest EC2 instances cost a few hundred


def no_control_chars(v):
    if isinstance(v, str) and _CONTROL.search(v):
        raise ValueError("contains a control character (newline, carriage return, tab, ESC, ...); "
                         "use printable characters only")
    return v


def Text(max_length: int, *, min_length: int = 0):
    """A string without control characters, at most `max_length` characters."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(no_control_chars)]


Name = Text(128, min_length=1)       # host names, label keys and values, selectors
PathText = Text(PATH_MAX, min_length=1)
Threads = Annotated[int, Field(ge=0, le=MAX_THREADS)]
