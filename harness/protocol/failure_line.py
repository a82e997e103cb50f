"""PURE: the decisive line of a failed task's stderr, for its one-line error.

The last line is often not the reason: a C++ abort prints the reason and then nothing
useful, a Python traceback ends in the exception but the harness's own wrapper line
comes after it, and TensorFlow adds warnings anywhere. Lines are ranked; the best of the
lowest rank wins, the latest among equals."""

from __future__ import annotations

import re

# Most decisive first. Each: (pattern, why it is decisive).
RANKED = (
    # Horovod/Gloo aborts: the reason is in the exception text C++ prints before abort().
    re.compile(r"Unable to find address for|gloo::|enforce fail|Connection (refused|reset|timed out)|"
               r"NCCL (error|WARN)|MPI_ABORT|ORTE|PRTE|HorovodInternalError"),
    # A Python exception line "pkg.SomeError: message" (the end of a traceback).
    re.compile(r"^(\w+\.)*\w*(Error|Exception|Interrupt|Exit)(: |$)"),
    re.compile(r"\b(error|fatal|failed|refused|denied|killed|not found|no such)\b", re.I),
)
# Noise that never explains a failure on its own.
SIGNAL = re.compile(r"^(Aborted|Segmentation fault|Killed|Bus error|Illegal instruction)( \(core dumped\))?$")
NOISE = re.compile(r"^Traceback \(most recent call last\)|"
                   r"^\s*File \"|^\d{4}-\d\d-\d\d [\d:.]+: [IW] |TF-TRT Warning|oneDNN custom operations|"
                   r"cpu_feature_guard|^terminate called after throwing|"
                   # TensorFlow's CPU build logs these at E level on every start: never the reason.
                   r"Unable to register cu\w+ factory|computation placer already registered|"
                   r"could not find cuda drivers|Could not find TensorRT")
# The worker's own wrapper line (harness/worker/train.py); it already quotes the script's reason.
WRAPPER = re.compile(r"^harness\.worker: ")


def decisive_line(stderr_tail: str) -> str:
    lines = [l.strip() for l in stderr_tail.splitlines() if l.strip()]
    if not lines:
        return ""
    candidates = [l for l in lines if not NOISE.search(l) and not SIGNAL.match(l)]
    for pat in RANKED:
        hits = [l for l in candidates if pat.search(l) and not WRAPPER.match(l)]
        if hits:
            return _what(hits[-1])
    wrapper = [l for l in candidates if WRAPPER.match(l)]
    # A process killed by a signal without a word of its own: say which signal the shell saw.
    signals = [l for l in lines if SIGNAL.match(l)]
    return (wrapper or signals or candidates or lines)[-1]


def _what(line: str) -> str:
    # `  what():  [enforce fail at ...] ... Unable to find address for: sb0` -> from "what():" on.
    m = re.search(r"what\(\):\s*(.*)", line)
    return m.group(1).strip() if m else line


# Exit statuses of a process killed by SIGABRT / SIGSEGV, as the task's shell records them.
CRASHES = (134, 139, -6, -11)


def gloo_crash_hint(gloo: bool, returncode: int | None, line: str) -> str:
    """Gloo (Horovod 0.28.1) reads getaddrinfo's result for the host's own name even when
    the lookup failed: a rank with an unresolvable hostname aborts with "Unable to find
    address for" or, as often, crashes without a word. Point at the check that proves it.
    `gloo`: the task runs under HOROVOD_CONTROLLER=gloo."""
    if not gloo or returncode not in CRASHES or "Unable to find" in line:
        return line
    return (f"{line or 'no stderr'} (a Gloo rank that crashes at start often has a hostname that does not resolve; "
            f"`harness check -e` checks it)")


def shorten(line: str, limit: int = 500) -> str:
    """A task's decisive stderr line for a control record: cut at a word boundary (or, for
    one long path, at a '/'), never mid-word, and marked as cut."""
    if len(line) <= limit:
        return line
    head = line[:limit]
    for sep in (" ", "/"):
        i = head.rfind(sep)
        if i > limit // 2:
            return head[:i].rstrip(" ;,:") + " …"
    return head + "…"
