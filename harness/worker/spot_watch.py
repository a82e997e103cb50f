"""Runs ON a host: watch the instance metadata service (IMDSv2) for a spot interruption
notice and call back once, so the task can checkpoint in its two minutes' warning.

Every `interval_s` a daemon thread asks GET /latest/meta-data/spot/instance-action with
a session token from PUT /latest/api/token. 404 means no notice; 200 carries
{"action": "terminate"|"stop"|"hibernate", "time": "2026-11-22T08:22:00Z"}. Nothing
here can raise into the training: errors are counted and the thread keeps polling (more
slowly while IMDS is unreachable, e.g. on a machine that is not EC2). Stdlib only."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Callable, Optional

from harness.protocol.constants import IMDS_ENV, IMDS_URL as DEFAULT_IMDS
TOKEN_PATH = "/latest/api/token"
NOTICE_PATH = "/latest/meta-data/spot/instance-action"
TOKEN_TTL_S = 21600  # the maximum IMDS allows; the token is refreshed before it ends
TIMEOUT_S = 1.0  # IMDS answers in milliseconds; a hang means it is not there
MAX_BACKOFF_S = 30.0

log = logging.getLogger("harness.spot_watch")


def parse_notice(body: bytes | str) -> Optional[dict]:
    """The notice as {"action", "time"}, or None when the body is not one."""
    try:
        doc = json.loads(body)
    except (TypeError, ValueError):
        return None
    if not isinstance(doc, dict) or "action" not in doc:
        return None
    return {"action": str(doc["action"]), "time": str(doc.get("time", ""))}


class ImdsClient:
    """The two IMDSv2 requests the watcher needs, with the token cached."""

    def __init__(self, base_url: Optional[str] = None, timeout_s: float = TIMEOUT_S):
        self.base_url = (base_url or os.environ.get(IMDS_ENV) or DEFAULT_IMDS).rstrip("/")
        self.timeout_s = timeout_s
        self._token: Optional[str] = None
        self._token_expires = 0.0

    def _open(self, req: urllib.request.Request):
        # No proxies: IMDS is link-local, and an HTTP(S)_PROXY must never see the token.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        return opener.open(req, timeout=self.timeout_s)

    def token(self) -> str:
        if self._token is None or time.monotonic() >= self._token_expires:
            req = urllib.request.Request(self.base_url + TOKEN_PATH, method="PUT",
                                         headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_S)})
            with self._open(req) as resp:
                self._token = resp.read().decode().strip()
            self._token_expires = time.monotonic() + TOKEN_TTL_S - 60
        return self._token

    def spot_notice(self) -> Optional[dict]:
        """The pending notice, or None (404). A 401 (token expired or revoked) gets one
        retry with a fresh token."""
        for attempt in (0, 1):
            req = urllib.request.Request(self.base_url + NOTICE_PATH,
                                         headers={"X-aws-ec2-metadata-token": self.token()})
            try:
                with self._open(req) as resp:
                    return parse_notice(resp.read())
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    return None
                if e.code == 401 and attempt == 0:
                    self._token = None
                    continue
                raise
        return None


class SpotWatcher(threading.Thread):
    """The polling thread. `notice` holds the notice once seen; `stop()` ends the thread."""

    def __init__(self, callback: Callable[[dict], None], interval_s: float = 5.0,
                 base_url: Optional[str] = None):
        super().__init__(name="spot-watch", daemon=True)
        self.callback = callback
        self.interval_s = interval_s
        self.imds = ImdsClient(base_url)
        self.notice: Optional[dict] = None
        self.errors = 0
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        failures = 0
        while not self._stop_event.is_set():
            try:
                notice = self.imds.spot_notice()
                failures = 0
            except Exception as e:  # unreachable, 5xx, garbage: keep polling, never raise
                notice = None
                failures += 1
                self.errors += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.debug("spot watch: IMDS request failed (%d in a row): %s", failures, e)
            if notice is not None:
                self.notice = notice
                try:
                    self.callback(notice)
                except Exception:  # the callback is the task's business; never kill the thread's host
                    log.exception("spot watch: callback failed")
                return  # one notice per instance life: call back once
            # Back off while IMDS is unreachable (not EC2, or firewalled), up to 30 s.
            delay = min(self.interval_s * (2 ** min(failures, 6)) if failures > 2 else self.interval_s,
                        max(self.interval_s, MAX_BACKOFF_S))
            self._stop_event.wait(delay)


def start_watcher(callback: Callable[[dict], None], interval_s: float = 5.0,
                  base_url: Optional[str] = None) -> threading.Thread:
    """Start polling IMDS (base URL: argument, env HARNESS_IMDS_URL, else
    http://169.254.169.254) every `interval_s` in a daemon thread; `callback(notice)` is
    called once, from that thread, with {"action", "time"}."""
    w = SpotWatcher(callback, interval_s, base_url)
    w.start()
    return w
