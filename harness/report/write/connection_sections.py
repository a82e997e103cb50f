"""The report's Connections section: every time the control side lost a host and whether it
came back within the connection grace (control.jsonl `host_unreachable` and
`host_reconnected`). These are the harness's own SSH connections; a rank's link to its peers
is Horovod's or TensorFlow's and shows as a task failure instead."""

from __future__ import annotations

from harness.report.read.records import RunData
from harness.report.write.blocks import Block, Bullets, Heading, Para, Table, fmt_num, fmt_wall


def outages(run: RunData) -> list[dict]:
    """PURE: one row per outage, in order: host, configuration, start (wall time), seconds
    until the host answered again (None: it never did within the grace), grace, error."""
    rows, open_ = [], {}
    for r in run.control:
        if r.get("event") == "host_unreachable":
            row = {"host": r.get("host"), "config": r.get("config"), "start": r.get("t_wall"),
                   "seconds": None, "grace_s": r.get("grace_s"), "error": r.get("error") or ""}
            open_[(r.get("config"), r.get("host"))] = row
            rows.append(row)
        elif r.get("event") == "host_reconnected":
            row = open_.pop((r.get("config"), r.get("host")), None)
            if row is not None:
                row["seconds"] = r.get("seconds")
    return rows


def connection_blocks(run: RunData) -> list[Block]:
    rows = outages(run)
    if not rows:
        return []
    errors = [f"{r['host']}: {r['error']}" for r in rows if r["error"]][:10]
    return [
        Heading(2, "Connections"),
        Para("Times the control side could not reach a host. An outage shorter than the connection "
             "grace (`--connection-grace`) is a blip: the host's tasks went on (their lease outlasts "
             "the grace), nothing was restarted, and supervision resumed when the host answered. "
             "A longer one failed the run. These are the harness's SSH connections, not the ranks' "
             "links to each other."),
        Table(["Host", "Configuration", "From", "Unreachable (s)", "Grace (s)", "Outcome"],
              [[r["host"], r["config"], fmt_wall(r["start"]),
                "—" if r["seconds"] is None else fmt_num(r["seconds"], 3), fmt_num(r["grace_s"]),
                "reconnected, run went on" if r["seconds"] is not None else "not back within the grace"]
               for r in rows]),
        *([Bullets(errors)] if errors else []),
    ]
