"""The steward's rules (harness/worker/keeper_steward.py), driven by simulated hosts that
follow its orders: start groups in order across hosts, the first failure stops every task
of the configuration run, time limits, silent hosts, stop requests, waves, keep_going and
fail_fast — the same outcomes and control records as the control side's Supervisor."""

from harness.worker.keeper_steward import SILENT_NOTE_S, SWEEP_TIMEOUT_S, Steward


def task(tid, host, group=0, role="worker", finishes=True, critical=True, rank=0):
    return {"task_id": tid, "host": host, "role": role, "rank": rank, "start_group": group,
            "finishes": finishes, "critical": critical, "task_dir": f"/w/{tid}", "events": "events.jsonl"}


def config(name, tasks, time_limit=1000.0):
    return {"name": name, "time_limit_s": time_limit, "tasks": tasks,
            "start_record": {"strategy": "single", "hosts": sorted({t["host"] for t in tasks})}}


def spec(configs, waves=None, **kw):
    return {"hosts": ["h0", "h1"], "connection_grace_s": 60.0, "grace_s": 10.0, "configs": configs,
            "waves": waves or [[c["name"]] for c in configs], "parallel": False, "keep_going": False,
            "fail_fast": False, **kw}


def two_host_config(name="a", time_limit=1000.0):
    return config(name, [task("sampler", "h0", -1, "sampler", False, False, None),
                         task("sampler", "h1", -1, "sampler", False, False, None),
                         task("worker-0", "h0", 0, rank=0), task("worker-1", "h1", 0, rank=1)], time_limit)


class World:
    """Hosts that do what the steward orders: tasks start at once, TERM ends them (143)."""

    def __init__(self, st: Steward, hosts=("h0", "h1")):
        self.st, self.now = st, 0.0
        self.hosts = {h: {} for h in hosts}     # host -> {(config, task_id): report}
        self.swept = {h: {} for h in hosts}
        self.silent: set[str] = set()
        self.fail_start: set[tuple[str, str]] = set()
        self.next_pid = 100

    def exit(self, host, config, tid, rc, error=""):
        self.hosts[host][config, tid].update(state="exited", returncode=rc, error=error)

    def step(self, dt=0.5):
        self.now += dt
        for h, tasks in self.hosts.items():
            if h in self.silent:
                continue
            report = {}
            for (c, tid), rep in tasks.items():
                report.setdefault(c, {})[tid] = dict(rep)
            self.st.report(h, report, self.swept[h], self.now)
            self.st.tick(self.now)     # as the keeper does before it answers a report
            self.follow(h, self.st.orders(h))
        self.st.tick(self.now)

    def follow(self, h, orders):
        for c in orders["term"]:
            for (cc, tid), rep in self.hosts[h].items():
                if cc == c and rep["state"] == "running":
                    rep.update(state="exited", returncode=143)
        for c, g in orders["start"].items():
            for t in next(x for x in self.st.spec["configs"] if x["name"] == c)["tasks"]:
                key = (c, t["task_id"])
                if t["host"] == h and t["start_group"] <= g and key not in self.hosts[h]:
                    if key in self.fail_start:
                        self.hosts[h][key] = {"state": "start_failed", "error": "python3: not found"}
                        continue
                    self.next_pid += 1
                    self.hosts[h][key] = {"state": "running", "pid": self.next_pid,
                                          "last_step": {"event": "step", "step": 1, "images": 32, "seconds": 0.1}}
        for c in orders["sweep"]:
            self.swept[h].setdefault(c, [])

    def run_until(self, cond, limit=2000):
        for _ in range(limit):
            if cond():
                return
            self.step()
        raise AssertionError("condition never held")

    def events(self, name=None):
        return [(e, f) for e, f in self.st.records if name is None or e == name]


def started(w, c, tid, host):
    return (c, tid) in w.hosts[host]


def test_groups_start_in_order_and_a_success_ends_the_run():
    st = Steward(spec([two_host_config("a"), two_host_config("b")]), 0.0)
    w = World(st)
    w.step()
    kinds = [e for e, _ in w.events()]
    assert kinds[:3] == ["keepers_joined", "wave_start", "config_start"]
    # the samplers (group -1) run on both hosts before any worker is launched
    assert not started(w, "a", "worker-0", "h0")
    w.run_until(lambda: started(w, "a", "worker-0", "h0") and started(w, "a", "worker-1", "h1"))
    order = [(e, f["task_id"]) for e, f in w.events() if e in ("task_launch", "task_running")]
    assert order[:4] == [("task_launch", "sampler")] * 2 + [("task_running", "sampler")] * 2
    assert {t for _, t in order[4:6]} == {"worker-0", "worker-1"}
    w.exit("h0", "a", "worker-0", 0)
    w.exit("h1", "a", "worker-1", 0)
    w.run_until(lambda: st.configs["a"].phase == "ended")
    end = w.events("config_end")[0][1]
    assert end == {"config": "a", "status": "succeeded", "reason": "", "leftovers": {}}
    # the never-finishing samplers were stopped, each with a task_exit record
    exits = {(f["host"], f["task_id"]): f["state"] for e, f in w.events("task_exit") if f["config"] == "a"}
    assert exits == {("h0", "worker-0"): "succeeded", ("h1", "worker-1"): "succeeded",
                     ("h0", "sampler"): "stopped", ("h1", "sampler"): "stopped"}
    w.run_until(lambda: started(w, "b", "worker-1", "h1"))
    for h, tid in (("h0", "worker-0"), ("h1", "worker-1")):
        w.exit(h, "b", tid, 0)
    w.run_until(lambda: st.ended)
    assert w.events("run_end")[-1][1] == {"status": "succeeded", "reason": ""}
    assert st.orders("h0")["end"] and st.orders("h1")["end"]


def test_the_first_failure_stops_every_task_of_the_configuration_run_and_the_run():
    st = Steward(spec([two_host_config("a"), two_host_config("b")]), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-1", "h1"))
    w.exit("h1", "a", "worker-1", 1, "ValueError: boom")
    w.step()
    # every host is told to TERM the configuration run's tasks
    assert st.orders("h0")["term"] == ["a"] and st.orders("h1")["term"] == ["a"]
    w.run_until(lambda: st.ended)
    end = w.events("config_end")[0][1]
    assert end["status"] == "failed" and end["reason"] == "task worker-1 on host h1 exited 1: ValueError: boom"
    assert w.hosts["h0"]["a", "worker-0"]["state"] == "exited"   # stopped by its TERM
    assert [f["config"] for e, f in w.events("config_start")] == ["a"]   # sequential, no keep_going
    assert w.events("run_end")[-1][1]["status"] == "failed"
    assert w.events("run_end")[-1][1]["reason"].startswith("a: task worker-1 on host h1 exited 1")


def test_keep_going_runs_the_next_configuration_after_a_failure():
    st = Steward(spec([two_host_config("a"), two_host_config("b")], keep_going=True), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-1", "h1"))
    w.exit("h1", "a", "worker-1", 1)
    w.run_until(lambda: started(w, "b", "worker-1", "h1"))
    w.exit("h0", "b", "worker-0", 0)
    w.exit("h1", "b", "worker-1", 0)
    w.run_until(lambda: st.ended)
    assert [f["status"] for e, f in w.events("config_end")] == ["failed", "succeeded"]
    assert w.events("run_end")[-1][1]["status"] == "failed"


def test_time_limit_and_spot_interruption():
    st = Steward(spec([two_host_config("a", time_limit=5.0)]), 0.0)
    w = World(st)
    w.run_until(lambda: st.ended)
    assert w.events("config_end")[0][1]["status"] == "timeout"
    assert w.events("config_end")[0][1]["reason"] == "time limit of 5 s reached"

    st = Steward(spec([two_host_config("a")]), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-0", "h0"))
    w.exit("h0", "a", "worker-0", 75)
    w.run_until(lambda: st.ended)
    end = w.events("config_end")[0][1]
    assert end["status"] == "interrupted" and "spot interruption notice" in end["reason"]


def test_a_silent_host_is_a_blip_within_the_grace_and_lost_after_it():
    st = Steward(spec([two_host_config("a")], connection_grace_s=20.0), 0.0)
    w = World(st)
    w.run_until(lambda: st.configs["a"].tasks[3].state == "running")
    w.silent.add("h1")
    for _ in range(int((SILENT_NOTE_S + 2) / 0.5)):
        w.step()
    assert [f["host"] for e, f in w.events("host_unreachable")] == ["h1"]
    assert "silent" in st.configs["a"].tasks[3].note
    w.silent.clear()
    w.step()
    assert [f["host"] for e, f in w.events("host_reconnected")] == ["h1"]
    assert st.configs["a"].phase == "watching"
    w.silent.add("h1")
    w.run_until(lambda: st.ended)
    end = w.events("config_end")[0][1]
    assert end["status"] == "failed" and "vanished without an exit code" in end["reason"]
    assert "more than 20 s (connection grace)" in end["reason"]
    assert end["leftovers"] == {"h1": [-1]}   # a host that cannot be checked


def test_a_host_whose_keeper_never_joins_fails_the_first_configuration():
    st = Steward(spec([two_host_config("a")], connection_grace_s=10.0), 0.0)
    w = World(st)
    w.silent.add("h1")
    w.run_until(lambda: st.ended)
    end = w.events("config_end")[0][1]
    assert end["status"] == "failed" and "never reported" in end["reason"]
    assert not w.events("keepers_joined")


def test_stop_request_stops_the_run():
    st = Steward(spec([two_host_config("a"), two_host_config("b")]), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-1", "h1"))
    st.request_stop("stop requested (harness stop)")
    w.run_until(lambda: st.ended)
    assert w.events("config_end")[0][1]["status"] == "stopped"
    assert w.events("run_end")[-1][1] == {"status": "stopped", "reason": "a: stop requested (harness stop)"}
    assert len(w.events("config_start")) == 1


def test_parallel_fail_fast_stops_the_other_configuration():
    a = config("a", [task("worker-0", "h0")])
    b = config("b", [task("worker-0", "h1")])
    st = Steward(spec([a, b], waves=[["a", "b"]], parallel=True, fail_fast=True), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "b", "worker-0", "h1") and started(w, "a", "worker-0", "h0"))
    w.exit("h0", "a", "worker-0", 1)
    w.run_until(lambda: st.ended)
    ends = {f["config"]: f for e, f in w.events("config_end")}
    assert ends["a"]["status"] == "failed"
    assert ends["b"]["status"] == "stopped"
    assert ends["b"]["reason"] == "stopped because another configuration failed (--fail-fast)"


def test_a_task_that_cannot_start_fails_the_configuration():
    st = Steward(spec([two_host_config("a")]), 0.0)
    w = World(st)
    w.fail_start.add(("a", "worker-1"))
    w.run_until(lambda: st.ended)
    end = w.events("config_end")[0][1]
    assert end["status"] == "failed"
    assert end["reason"] == "host h1: task worker-1 could not start: python3: not found"


def test_a_sweep_that_never_reports_leaves_unknown_leftovers():
    st = Steward(spec([config("a", [task("worker-0", "h0"), task("worker-1", "h1")])]), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-1", "h1") and started(w, "a", "worker-0", "h0"))
    w.exit("h0", "a", "worker-0", 0)
    w.exit("h1", "a", "worker-1", 0)
    w.run_until(lambda: st.configs["a"].phase == "sweeping")
    t = w.now
    w.swept["h1"]["a"] = [4242]    # h1 found a leftover; h0 will never answer its sweep
    w.silent.add("h0")
    w.run_until(lambda: st.ended)
    assert w.now - t >= SWEEP_TIMEOUT_S - 1
    assert w.events("config_end")[0][1]["leftovers"] == {"h0": [-1], "h1": [4242]}


def _live_config(name, **rules):
    c = two_host_config(name)
    for t in c["tasks"]:
        t["trains"] = t["role"] != "sampler"
    return {**c, **rules}


def test_a_nan_loss_stops_only_that_configuration_early_as_the_attached_supervisor_does():
    st = Steward(spec([_live_config("a", live_rules=True, max_init_s=0), _live_config("b", live_rules=True)]), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-1", "h1") and st.configs["a"].phase == "watching")
    w.hosts["h1"]["a", "worker-1"]["last_step"] = {"event": "step", "step": 7, "loss": float("nan")}
    w.run_until(lambda: st.configs["a"].phase == "ended")
    hit = w.events("live_rule")[0][1]
    assert (hit["config"], hit["rule"], hit["host"]) == ("a", "nan_loss", "h1")
    end = w.events("config_end")[0][1]
    assert end["status"] == "stopped_early" and end["reason_code"] == "nan_loss"
    assert end["reason"].startswith("stopped early (nan_loss): task worker-1 on h1: loss nan at step 7")
    # the next configuration still runs (sequential, no keep_going): an early stop is not a failure
    w.run_until(lambda: started(w, "b", "worker-1", "h1"))
    for h, tid in (("h0", "worker-0"), ("h1", "worker-1")):
        w.exit(h, "b", tid, 0)
    w.run_until(lambda: st.ended)
    assert [f["config"] for e, f in w.events("config_start")] == ["a", "b"]


def test_no_first_step_within_max_init_s_stops_the_configuration():
    st = Steward(spec([_live_config("a", live_rules=False, max_init_s=5.0)]), 0.0)
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-1", "h1"))
    for h, tid in (("h0", "worker-0"), ("h1", "worker-1")):   # started, but no step yet
        w.hosts[h]["a", tid]["last_step"] = None
    w.run_until(lambda: st.configs["a"].phase == "ended", limit=40)
    end = w.events("config_end")[0][1]
    assert end["status"] == "stopped_early" and end["reason_code"] == "max_init"
    assert "no training task logged a step within max_init_s = 5 s" in end["reason"]


def test_without_live_rules_in_the_spec_nothing_is_stopped_early():
    st = Steward(spec([two_host_config("a")]), 0.0)   # an older keeper spec: no max_init_s, live_rules
    w = World(st)
    w.run_until(lambda: started(w, "a", "worker-1", "h1"))
    w.hosts["h1"]["a", "worker-1"]["last_step"] = {"event": "step", "step": 7, "loss": float("nan")}
    for _ in range(20):
        w.step()
    assert st.configs["a"].phase == "watching" and not w.events("live_rule")
