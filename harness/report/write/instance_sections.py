"""Report block: the lives of the instances this run started (its copy of the instance
ledger, instance_ledger.jsonl, written at the end of the run and refreshed by `harness
hosts status`). Every second from launch is in one part: boot and set-up, runs, idle
between runs, idle until the stop (or, for an instance still running when the copy was
written, idle up to the copy's last record). $ at the host's on-demand price from the bill."""

from __future__ import annotations

from harness.aws.ledger import parse_lines
from harness.aws.ledger_account import lives, usd
from harness.protocol import layout
from harness.report.figures.analysis import RunAnalysis
from harness.report.figures.cost import fmt_usd
from harness.report.write.blocks import Block, Bullets, Heading, Para, Table, fmt_num, fmt_wall


def instance_ledger_blocks(a: RunAnalysis) -> list[Block]:
    path = a.run.run_dir / layout.INSTANCE_LEDGER_COPY
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        records, bad = parse_lines(fh)
    times = [r["t_wall"] for r in records if isinstance(r.get("t_wall"), (int, float))]
    if not times:
        return []
    as_of = max(times)  # "now" for an instance still running: the copy's last record, not the report's time
    run_id = a.run.run_id or a.run.run_dir.name
    mine = [lf for lf in lives(records, as_of) if any(r.get("run_id") == run_id for r in lf.runs)]
    if not mine:
        return []
    prices = {h.host: h.price.on_demand.usd_per_hour for h in (a.bill.holds if a.bill else [])}
    rows = []
    for lf in mine:
        price = prices.get(lf.host)
        for p in lf.parts:
            label = p.label + (" (this run)" if p.kind == "run" and run_id in p.label else "")
            rows.append([lf.host, p.kind, fmt_wall(p.start), fmt_wall(p.end), fmt_num(p.seconds),
                         fmt_usd(usd(p.seconds, price)), label + (f" — {p.note}" if p.note else "")])
        rows.append([lf.host, "total", fmt_wall(lf.launch), fmt_wall(lf.end if lf.end is not None else as_of),
                     fmt_num(lf.seconds), fmt_usd(usd(lf.seconds, price)),
                     f"launch: {lf.launch_source}; " + (f"stopped: {lf.end_how}" if lf.end is not None
                                                        else "still running at the copy's last record")])
    blocks: list[Block] = [
        Heading(2, "Instance ledger"),
        Para(f"The instances `harness hosts start` started, from launch to stop, as recorded in "
             f"{layout.INSTANCE_LEDGER_COPY} (as of {fmt_wall(as_of)}; `harness hosts status` refreshes it). "
             "Only the run that follows a start bills the boot and set-up; other runs bill their own time; "
             "idle time between runs and until the stop is the instance's, listed here so none is dropped. "
             "$ at on-demand prices (the bill's)."),
        Table(["Host", "Part", "From", "To", "Seconds", "On-demand", "What"], rows)]
    if bad:
        blocks.append(Bullets([f"{layout.INSTANCE_LEDGER_COPY}: {len(bad)} damaged line(s) skipped: "
                               f"{', '.join(map(str, bad[:10]))}"]))
    return blocks
