"""`python -m harness.worker.keeper --dir KEEPER_DIR`: a detached run's keeper on one host.

Started detached (setsid) on every host of the run by `harness run --detach`, with the
keeper spec (keeper.json) beside the task files that detach wrote: every configuration
run's tasks in schedule order, start groups, lease, grace, time limits. One keeper per
host and run (a lock); the first host of the plan is the steward:

- every keeper starts, polls, TERMs and sweeps its own host's tasks when told
  (keeper_tasks.py) and renews their lease files while it lives, so the control side's
  absence does not stop them; a keeper that dies stops renewing, and its tasks stop
  themselves when their lease runs out, as with the control side today;
- members report to the steward every poll and follow its orders (keeper_net.py); a
  member that cannot reach the steward for longer than the lease stops its tasks;
- the steward applies the run's rules (keeper_steward.py) and writes the control
  records into its control.jsonl, and its live state into state.json, where `harness
  attach` and `harness status` read them; `harness stop` writes stop_request there.

Standard library and harness.protocol only (tests/unit/test_layers.py)."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
import traceback
from pathlib import Path

from harness.protocol import layout
from harness.protocol.events import EventLog
from harness.worker.keeper_net import StewardLink, StewardServer
from harness.worker.keeper_steward import Steward
from harness.worker.keeper_tasks import LocalTasks
from harness.worker.stopping import StopOnSignal

END_LINGER_S = 10.0   # after run_end, how long the steward waits for members to hear "end"


def follow(tasks: LocalTasks, orders: dict) -> None:
    """Do what the steward ordered for this host's tasks (idempotent: orders repeat every poll)."""
    for config in orders.get("term") or []:
        tasks.term(config)
    for config, group in (orders.get("start") or {}).items():
        tasks.start(config, int(group))
    for config in orders.get("sweep") or []:
        if config not in tasks.swept:
            tasks.sweep(config)


def write_state(d: Path, state: dict) -> None:
    tmp = d / (layout.KEEPER_STATE_FILE + ".tmp")
    tmp.write_text(json.dumps({**state, "pid": os.getpid(), "t_wall": time.time()}))
    os.replace(tmp, d / layout.KEEPER_STATE_FILE)


def _stop_reason(d: Path, stop: StopOnSignal) -> str:
    if stop.stopped:
        return "stop requested (the steward's keeper got a signal)"
    try:
        text = (d / layout.STOP_REQUEST_FILE).read_text().strip()
    except OSError:
        return ""
    return text or "stop requested (harness stop)"


def run_steward(spec: dict, d: Path, stop: StopOnSignal) -> int:
    host, poll = spec["host"], float(spec.get("poll_s", 0.5))
    log = EventLog(d / layout.KEEPER_LOG_FILE)
    tasks = LocalTasks(spec, host)
    st = Steward(spec, time.monotonic())
    try:
        server = StewardServer(int(spec["port"]), spec["token"])
    except OSError as e:
        why = f"the steward's keeper on host {host} cannot listen on port {spec['port']}: {e.strerror or e}"
        log.emit("keeper_error", host=host, error=why + "; choose another base_port")
        write_state(d, {"role": "steward", "phase": "ended", "error": why, "started": False})
        return 1
    acked: set[str] = set()
    ended_at, last_orders = None, None

    def handle(msg: dict) -> dict | None:
        h = msg.get("host")
        if h not in st.members or h == host:
            return None
        now = time.monotonic()
        st.report(h, msg.get("tasks") or {}, msg.get("swept") or {}, now)
        st.tick(now)   # a group this report completes is released in this very answer
        orders = st.orders(h)
        if orders["end"]:
            acked.add(h)
        return orders

    try:
        while True:
            now = time.monotonic()
            st.report(host, tasks.poll(), tasks.swept, now)
            reason = _stop_reason(d, stop)
            if reason:
                st.request_stop(reason)
            st.tick(now)
            orders = st.orders(host)
            follow(tasks, orders)
            tasks.renew()
            # While things change (a group released, a stop under way), look again at once.
            busy = bool(st.records) or orders != last_orders
            last_orders = orders
            for event, fields in st.records:
                rec = log.emit(event, **fields)
                if event == "config_start":
                    st.configs[fields["config"]].started_wall = rec["t_wall"]
            st.records.clear()
            members = {h: round(now - t, 1) for h, t in st.last_seen.items()}
            write_state(d, {"role": "steward", "run_id": spec["run_id"], "host": host, "started": st.wave_i >= 0,
                            "seen_s_ago": members, **st.snapshot()})
            if st.ended:
                ended_at = ended_at or now
                if acked >= set(st.members) - set(st.unreachable) - {host} or now - ended_at > END_LINGER_S:
                    return 0
            server.serve(0.05 if busy else poll, handle)
    except Exception as e:
        log.emit("keeper_error", host=host, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        tasks.stop_everything(float(spec["grace_s"]))
        raise
    finally:
        server.close()
        log.close()


def run_member(spec: dict, d: Path, stop: StopOnSignal) -> int:
    host, poll, lease = spec["host"], float(spec.get("poll_s", 0.5)), float(spec["lease_s"])
    tasks = LocalTasks(spec, host)
    link = StewardLink(spec["steward_address"], int(spec["port"]), spec["token"], host)
    last_contact = time.monotonic()   # a steward that never answers counts from the start
    last_orders = None
    while True:
        if stop.stopped:
            left = tasks.stop_everything(float(spec["grace_s"]))
            write_state(d, {"role": "member", "phase": "ended", "started": bool(tasks.pids),
                            "why": f"signal {stop.signum}", "leftovers": left})
            return 0
        reports = tasks.poll()
        orders = link.exchange({"tasks": reports, "swept": tasks.swept})
        now = time.monotonic()
        busy = orders is not None and orders != last_orders
        if orders is not None:
            last_contact, last_orders = now, orders
            follow(tasks, orders)
            if orders.get("end"):
                write_state(d, {"role": "member", "phase": "ended", "started": bool(tasks.pids), "tasks": reports})
                return 0
        elif now - last_contact > lease:
            left = tasks.stop_everything(float(spec["grace_s"]))
            why = (f"no answer from the steward on host {spec['steward']} for more than the lease ({lease:g} s): "
                   f"{link.error}; stopped this host's tasks")
            print(f"harness keeper: {why}", flush=True)
            write_state(d, {"role": "member", "phase": "ended", "started": bool(tasks.pids), "why": why,
                            "leftovers": left, "tasks": tasks.poll()})
            return 3
        if now - last_contact <= lease:
            tasks.renew()
        write_state(d, {"role": "member", "phase": "running", "started": bool(tasks.pids),
                        "steward_silent_s": round(now - last_contact, 1), "steward_error": link.error,
                        "tasks": reports})
        stop.wait(0.05 if busy else poll)


def _already_done(d: Path) -> bool:
    """A keeper that already started tasks for this run is not started again (attach may
    start the keepers of a run whose launch was cut short; those never started any)."""
    try:
        state = json.loads((d / layout.KEEPER_STATE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return bool(state.get("started"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.worker.keeper")
    ap.add_argument("--dir", required=True, help="the keeper directory (keeper.json)")
    args = ap.parse_args(argv)
    d = Path(args.dir)
    try:
        spec = json.loads((d / layout.KEEPER_SPEC_FILE).read_text())
    except (OSError, ValueError) as e:
        print(f"harness keeper: {d / layout.KEEPER_SPEC_FILE}: {e}", file=sys.stderr)
        return 2
    lock = open(d / layout.KEEPER_LOCK_FILE, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("harness keeper: already running for this run on this host", flush=True)
        return 0
    if _already_done(d):
        print("harness keeper: this host's keeper already ran this run; not starting it again", flush=True)
        return 0
    (d / layout.KEEPER_PID_FILE).write_text(f"{os.getpid()}\n")
    stop = StopOnSignal()
    if spec["host"] == spec["steward"]:
        return run_steward(spec, d, stop)
    return run_member(spec, d, stop)


if __name__ == "__main__":
    sys.exit(main())
