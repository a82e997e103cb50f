"""The one way a host-side process stops on a signal: SIGTERM/SIGINT set a flag and write
to a pipe that `wait` selects on, so a sleep ends at once. (Not threading.Event: set()
from a handler can deadlock when the signal lands while the main thread holds the event's
lock inside wait(). Python runs the handler in the main thread whichever thread the
signal hit.)"""

from __future__ import annotations

import os
import select
import signal


class StopOnSignal:
    def __init__(self) -> None:
        self.signum: int | None = None
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        self._previous = {}
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread (called in-process): no handlers
                pass

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        try:
            os.write(self._w, b"x")
        except OSError:  # pipe full: a wake-up is already pending
            pass

    @property
    def stopped(self) -> bool:
        return self.signum is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a stop signal (None: however long it takes) or up to `timeout`
        seconds; True once a stop signal has arrived."""
        if self.signum is None and (timeout is None or timeout > 0):
            select.select([self._r], [], [], timeout)
        return self.signum is not None

    def restore(self) -> None:
        """Put back the previous handlers and close the pipe."""
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous = {}
        os.close(self._r)
        os.close(self._w)
