import os

# Every TensorFlow process in the tests uses Keras 2 (tf_keras), as the harness does.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Test hosts are this machine: autostop may only ever run a stand-in (harness/transport/autostop.py).
os.environ["HARNESS_NO_REAL_SHUTDOWN"] = "1"
# Never the user's instance ledger (~/.local/state/harness): tests that need one set their own.
if "HARNESS_STATE_DIR" not in os.environ:
    import tempfile

    os.environ["HARNESS_STATE_DIR"] = tempfile.mkdtemp(prefix="harness-test-state-")

pytest_plugins = ["tests.support.sshd_hosts", "tests.support.netns_hosts", "tests.support.aws_fixtures"]


# Skips: run.sh prints them (-rs); a skip that tests/support/skips.py does not allow fails the
# run, so lost coverage (a missing package, a fixture gone wrong) cannot pass as green.
_SKIPPED: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_sessionfinish(session, exitstatus):
    from tests.support.skips import unexpected

    bad = unexpected(_SKIPPED)
    if bad:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        for test, why in bad:
            line = f"unexpected skip (not allowed by tests/support/skips.py): {test}: {why}"
            tr.write_line(line, red=True) if tr else print(line)
        if session.exitstatus == 0:
            session.exitstatus = 1
