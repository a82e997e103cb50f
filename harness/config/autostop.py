"""`autostop` of an inventory (in `defaults` or per host) and `hosts start --autostop`. PURE.

    autostop: 10m                                # stop after 10 minutes idle
    autostop: {after: 2h, action: terminate}     # terminate instead of stop
    autostop: {after: 10m, command: "sudo -n poweroff"}   # another shutdown command

`after` is the idle time with no run attached; `action` is what EC2 does when the instance
shuts itself down (its instance-initiated shutdown behaviour); `command` is what the host's
watchdog runs then (default: `shutdown -P now`, through `sudo -n` unless it runs as root).
Tests set `command` to a stand-in that writes a file instead of shutting anything down."""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.config.fields import MAX_SECONDS, Text

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?\s*$")
_UNIT_S = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}


def parse_duration(value) -> float:
    """"10m", "90s", "1.5h", "2d" or a number of seconds → seconds. ValueError names the form."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 10m, 90s, 2h")
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration; write e.g. 10m, 90s, 2h (or a number of seconds)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def format_duration(seconds: float) -> str:
    s = float(seconds)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{int(s // n)}{unit}"
    return f"{s:g}s"


class Autostop(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after_s: float = Field(ge=1, le=MAX_SECONDS, description="idle seconds before the instance stops")
    action: Literal["stop", "terminate"] = "stop"
    command: Optional[Text(1024, min_length=1)] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        # `autostop: 10m` and `{after: 10m, ...}`: the YAML forms; after_s is the stored one.
        if isinstance(data, (str, int, float)) and not isinstance(data, bool):
            data = {"after": data}
        if isinstance(data, dict) and "after" in data:
            data = {**{k: v for k, v in data.items() if k != "after"}, "after_s": parse_duration(data["after"])}
        return data

    @property
    def text(self) -> str:
        return f"{self.action} after {format_duration(self.after_s)} idle"
