"""harness/worker/spot_watch.py against a local IMDSv2 stand-in (real paths, token flow)."""

import threading
import time
import urllib.error
import urllib.request

import pytest

from harness.worker import spot_watch
from tests.support.aws_fixtures import FakeImds, fake_imds, free_port  # noqa: F401


def test_the_fake_imds_enforces_tokens(fake_imds):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(fake_imds.url + spot_watch.NOTICE_PATH, timeout=5)
    assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(fake_imds.url + spot_watch.TOKEN_PATH, method="PUT"), timeout=5)
    assert e.value.code == 400


def test_parse_notice():
    assert spot_watch.parse_notice(b'{"action": "stop", "time": "2026-11-22T08:22:00Z"}') == {
        "action": "stop", "time": "2026-11-22T08:22:00Z"}
    assert spot_watch.parse_notice(b"<html>") is None and spot_watch.parse_notice(b'{"x": 1}') is None


def test_client_404_then_notice(fake_imds):
    c = spot_watch.ImdsClient(fake_imds.url)
    assert c.spot_notice() is None  # 404: no notice
    assert c.spot_notice() == {"action": "terminate", "time": "2026-11-22T08:22:00Z"}
    assert fake_imds.token_puts == 1 and fake_imds.unauthorized == 0  # the token is reused


def test_expired_token_is_renewed(fake_imds):
    c = spot_watch.ImdsClient(fake_imds.url)
    c._token, c._token_expires = "stale", time.monotonic() + 999
    assert c.spot_notice() is None
    assert fake_imds.unauthorized == 1 and fake_imds.token_puts == 1


def test_watcher_calls_back_once(fake_imds):
    got, fired = [], threading.Event()

    def on_notice(n):
        got.append(n)
        fired.set()

    w = spot_watch.start_watcher(on_notice, interval_s=0.05, base_url=fake_imds.url)
    assert isinstance(w, threading.Thread) and w.daemon
    assert fired.wait(5)
    w.join(2)
    time.sleep(0.2)
    assert got == [{"action": "terminate", "time": "2026-11-22T08:22:00Z"}]
    assert not w.is_alive() and w.notice == got[0] and fake_imds.notice_gets == 2


def test_base_url_from_env(monkeypatch, fake_imds):
    monkeypatch.setenv(spot_watch.IMDS_ENV, fake_imds.url)
    assert spot_watch.ImdsClient().base_url == fake_imds.url
    monkeypatch.delenv(spot_watch.IMDS_ENV)
    assert spot_watch.ImdsClient().base_url == "http://169.254.169.254"


def test_a_failing_callback_or_missing_imds_never_raises():
    with FakeImds(notice_after=0) as imds:
        w = spot_watch.start_watcher(lambda n: 1 / 0, interval_s=0.05, base_url=imds.url)
        w.join(5)
        assert not w.is_alive() and w.notice is not None
    # nothing listening: the thread keeps polling quietly until stopped
    w = spot_watch.start_watcher(lambda n: None, interval_s=0.02, base_url=f"http://127.0.0.1:{free_port()}")
    time.sleep(0.3)
    assert w.is_alive() and w.errors >= 2 and w.notice is None
    w.stop()
    w.join(5)
    assert not w.is_alive()
