"""harness/config/autostop.py: the `autostop` field of an inventory and --autostop."""

import pytest

from harness.config.autostop import Autostop, format_duration, parse_duration
from harness.config.inventory import Inventory


def test_durations():
    assert parse_duration("10m") == 600 and parse_duration("90s") == 90 and parse_duration("1.5h") == 5400
    assert parse_duration("2d") == 172800 and parse_duration(45) == 45 and parse_duration(" 3 min ") == 180
    for bad in ("ten", "10 minutes", "", "-5m", True):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)
    assert format_duration(600) == "10m" and format_duration(7200) == "2h" and format_duration(90) == "90s"


def test_inventory_field_in_defaults_and_per_host():
    inv = Inventory.model_validate({"defaults": {"autostop": "10m"}, "hosts": [
        {"name": "a", "address": "x"},
        {"name": "b", "address": "y", "autostop": {"after": "2h", "action": "terminate"}},
        {"name": "c", "address": "z", "autostop": {"after": 30, "command": "touch /tmp/stand-in"}}]})
    a, b, c = (h.autostop for h in inv.hosts)
    assert (a.after_s, a.action, a.command) == (600, "stop", None)
    assert (b.after_s, b.action) == (7200, "terminate") and b.text == "terminate after 2h idle"
    assert c.command == "touch /tmp/stand-in"
    # What resolved.json holds validates again (after_s, not after).
    again = Inventory.model_validate(inv.model_dump())
    assert [h.autostop for h in again.hosts] == [a, b, c]
    assert Inventory.model_validate({"hosts": [{"name": "a", "address": "x"}]}).hosts[0].autostop is None


@pytest.mark.parametrize("value, msg", [
    ("ten", "not a duration"), ({"after": "10m", "action": "reboot"}, "action"),
    ({"after": "0s"}, "greater than or equal to 1"), ({"after": "10m", "when": 1}, "when"),
    ({"action": "stop"}, "after_s"), ("30d", "less than or equal"),
])
def test_bad_autostop_is_refused_naming_the_field(value, msg):
    with pytest.raises(ValueError, match=msg) as e:
        Inventory.model_validate({"hosts": [{"name": "a", "address": "x", "autostop": value}]})
    assert "hosts.0.autostop" in str(e.value)
    assert Autostop.model_validate("5m").after_s == 300


def test_the_real_shutdown_is_never_armed_under_the_tests():
    import pytest

    from harness.errors import HarnessError
    from harness.transport import autostop

    with pytest.raises(HarnessError, match="refusing to arm autostop with the host's real shutdown"):
        autostop.arm("python3", "/tmp/w", 60, None, armed_by="test")
    cmd, _ = autostop.arm("python3", "/tmp/w", 60, "touch /tmp/w/fired", armed_by="test")
    assert "--ensure-running" in cmd
