"""Which tasks a warm zygote serves and when zygotes start (harness/stages/warm_pool.py)."""

from pathlib import Path

import yaml

from harness.config import load_experiment, load_inventory
from harness.protocol.constants import WARM_NAME_ENV, WARM_ZYGOTE_ENV
from harness.stages import warm_pool
from harness.stages.plan import build_plan

ROOT = Path(__file__).resolve().parents[2]


def _plan(tmp_path, configurations, repeats=2, warm=True, workload=None):
    e = tmp_path / "e.yaml"
    e.write_text(yaml.safe_dump({
        "name": "w", "repeats": repeats, "warm_start": warm, "sample_interval_s": 1,
        "workload": workload or {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1},
        "configurations": configurations}))
    return build_plan(load_experiment(e), load_inventory(ROOT / "hosts" / "local.yaml"), "r1", tmp_path / "r1")


def _names(cp):
    return {t.task_id: t.env.get(WARM_NAME_ENV) for t in cp.tasks}


def test_repeats_share_a_zygote_and_another_environment_gets_its_own(tmp_path):
    # intra/inter-op threads are set in the fresh child before TensorFlow's runtime starts, so
    # they may share a zygote; OMP_NUM_THREADS is read when the libraries load, so it may not.
    plan = _plan(tmp_path, [{"name": "a", "threads": {"intra_op": 1}}, {"name": "b", "threads": {"intra_op": 2}},
                            {"name": "c", "threads": {"omp": 2}}])
    assert [cp.name for cp in plan.configs] == ["a@1", "b@1", "c@1", "a@2", "b@2", "c@2"]
    a1, b1, c1, a2, b2, c2 = (_names(cp) for cp in plan.configs)
    assert a1["sampler"] is None and a1["worker-0"] == b1["worker-0"] == a2["worker-0"] == b2["worker-0"]
    assert c1["worker-0"] == c2["worker-0"] != a1["worker-0"]
    zs = {z.name: z for z in plan.zygotes}
    assert len(zs) == 2
    za, zc = zs[a1["worker-0"]], zs[c1["worker-0"]]
    assert (za.host, plan.configs[za.first_unit].name, plan.configs[zc.first_unit].name) == ("local", "b@1", "c@2")
    assert za.env[WARM_ZYGOTE_ENV] == "1" and za.env["HARNESS_RUN_ID"] == "r1" and zc.env["OMP_NUM_THREADS"] == "2"
    assert not any(k.startswith("HOROVOD_") or k == "HARNESS_CONFIG" for k in za.env)
    assert {w["first_warm_run"] for w in plan.to_json()["warm"]} == {"b@1", "c@2"}
    # after a@1 ends on its host, its zygote is due (its next user is b@1); c's only after c@1
    due = warm_pool.due(list(plan.zygotes), 0, ("local",), set())
    assert [z.name for z in due] == [za.name]
    assert warm_pool.due(list(plan.zygotes), 0, ("local",), {za.name}) == []
    assert warm_pool.due(list(plan.zygotes), 0, ("elsewhere",), set()) == []


def test_no_zygote_for_one_run_scripts_or_when_turned_off(tmp_path):
    assert _plan(tmp_path, [{"name": "a"}], repeats=1).zygotes == ()
    assert _plan(tmp_path, [{"name": "a"}], warm=False).zygotes == ()
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    assert _plan(tmp_path, [{"name": "a"}], workload={"script": str(script)}).zygotes == ()


def test_horovod_ranks_are_warm_and_its_rendezvous_is_not(tmp_path):
    plan = _plan(tmp_path, [{"name": "h", "strategy": "horovod", "workers": 2, "launcher": "gloo"}])
    names = _names(plan.configs[1])
    assert names["rendezvous"] is None and names["worker-0"] == names["worker-1"] is not None
    (z,) = plan.zygotes
    assert z.imports == ("horovod.tensorflow",)   # the horovod strategy's warm_imports
    assert warm_pool.start_argv("python3", z, 90)[-2:] == ["--import", "horovod.tensorflow"]


def test_the_key_ignores_what_each_task_sets_itself():
    base = {"TF_USE_LEGACY_KERAS": "1", "OMP_NUM_THREADS": "1"}
    k = warm_pool.key("py", {**base, "HOROVOD_RANK": "0", "TF_CONFIG": "{}", "HARNESS_CONFIG": "a@1"})
    assert k == warm_pool.key("py", {**base, "HOROVOD_RANK": "1", "HARNESS_CONFIG": "a@2"})
    assert k != warm_pool.key("py", {**base, "OMP_NUM_THREADS": "2"}) != warm_pool.key("py3", base)


def test_kept_state_keys_are_per_configuration_and_kept_only_for_a_later_run(tmp_path):
    from harness.protocol.constants import WARM_HOT_ENV, WARM_KEEP_ENV

    plan = _plan(tmp_path, [{"name": "a", "threads": {"intra_op": 1}}, {"name": "b", "threads": {"intra_op": 1}},
                            {"name": "c", "threads": {"intra_op": 2}}], repeats=3)
    assert [cp.name for cp in plan.configs][:3] == ["a@1", "b@1", "c@1"]
    hot = {cp.name: cp.tasks[[t.task_id for t in cp.tasks].index("worker-0")].env for cp in plan.configs}
    keys = {n: e.get(WARM_HOT_ENV) for n, e in hot.items()}
    # repeats of one configuration share a key; another configuration (even one identical in all
    # but its name, or one with other threads) never shares a process's kept state
    assert keys["a@1"] == keys["a@2"] == keys["a@3"]
    assert len({keys["a@1"], keys["b@1"], keys["c@1"]}) == 3
    # kept after a run only when a later run of the same key comes to that host
    assert [hot[f"a@{k}"].get(WARM_KEEP_ENV) for k in (1, 2, 3)] == ["1", "1", None]
    sampler = next(t for t in plan.configs[0].tasks if t.task_id == "sampler")
    assert WARM_HOT_ENV not in sampler.env and WARM_KEEP_ENV not in sampler.env


def test_a_changed_workload_field_changes_the_key(tmp_path):
    from harness.protocol.constants import WARM_HOT_ENV

    def key(batch):
        plan = _plan(tmp_path, [{"name": "a"}], workload={"model": "mlp", "dataset": {"name": "digits"},
                                                           "batch_size": batch, "epochs": 1})
        return next(t for t in plan.configs[0].tasks if t.task_id == "worker-0").env[WARM_HOT_ENV]

    assert key(8) == key(8) != key(16)


def test_a_first_run_whose_processes_are_kept_starts_its_zygote_in_its_own_window(tmp_path):
    from harness.protocol.constants import WARM_KEEP_ENV, WARM_OWN_ENV

    plan = _plan(tmp_path, [{"name": "a"}], repeats=3)
    (z,) = plan.zygotes
    assert z.own_run and plan.configs[z.cold_unit].name == "a@1"
    env = {cp.name: next(t for t in cp.tasks if t.task_id == "worker-0").env for cp in plan.configs}
    # the first run is forked from it (so it can be kept for a@2) and marked cold; the others not
    assert [env[f"a@{k}"].get(WARM_OWN_ENV) for k in (1, 2, 3)] == ["1", None, None]
    assert [env[f"a@{k}"].get(WARM_KEEP_ENV) for k in (1, 2, 3)] == ["1", "1", None]
    assert [x.name for x in warm_pool.due_before(list(plan.zygotes), 0, ("local",), set())] == [z.name]
    assert warm_pool.due_before(list(plan.zygotes), 0, ("local",), {z.name}) == []
    assert warm_pool.due_before(list(plan.zygotes), 1, ("local",), set()) == []
    # started in its window, it is not started again after it; one that could not start is
    assert warm_pool.due(list(plan.zygotes), 0, ("local",), {z.name}) == []
    assert [x.name for x in warm_pool.due(list(plan.zygotes), 0, ("local",), set())] == [z.name]


def test_a_strategy_whose_cluster_is_fixed_keeps_nothing_and_its_first_run_stays_cold(tmp_path):
    from harness.protocol.constants import WARM_KEEP_ENV, WARM_OWN_ENV

    # two configurations of one environment, each run once: nothing of either is kept
    plan = _plan(tmp_path, [{"name": "a"}, {"name": "b"}], repeats=1)
    (z,) = plan.zygotes
    assert not z.own_run and warm_pool.due_before(list(plan.zygotes), 0, ("local",), set()) == []
    assert not any(WARM_OWN_ENV in t.env or WARM_KEEP_ENV in t.env for cp in plan.configs for t in cp.tasks)
    # the parameter server's processes are never kept (its cluster is fixed at creation)
    assert warm_pool.strategies.strategy_for("parameter_server").keeps_processes is False
    assert warm_pool.strategies.strategy_for("mirrored").keeps_processes is False
    assert warm_pool.strategies.strategy_for("horovod").keeps_processes is True


def test_parameter_server_repeats_share_a_zygote_but_keep_no_process(tmp_path):
    from harness.protocol.constants import WARM_KEEP_ENV, WARM_OWN_ENV

    plan = _plan(tmp_path, [{"name": "p", "strategy": "parameter_server", "workers": 1, "ps": 1}], repeats=2)
    assert plan.zygotes and not any(z.own_run for z in plan.zygotes)
    assert not any(WARM_OWN_ENV in t.env or WARM_KEEP_ENV in t.env for cp in plan.configs for t in cp.tasks)


def test_after_a_warm_up_run_nothing_is_kept_so_round_one_compares_like_with_like(tmp_path):
    from harness.protocol.constants import WARM_KEEP_ENV, WARM_OWN_ENV

    e = tmp_path / "e.yaml"
    e.write_text(yaml.safe_dump({
        "name": "w", "repeats": 2, "warmup_run": True, "sample_interval_s": 1,
        "workload": {"model": "mlp", "dataset": {"name": "digits"}, "batch_size": 8, "epochs": 1},
        "configurations": [{"name": "a"}, {"name": "b"}]}))
    plan = build_plan(load_experiment(e), load_inventory(ROOT / "hosts" / "local.yaml"), "r1", tmp_path / "r1")
    env = {cp.name: next(t for t in cp.tasks if t.task_id == "worker-0").env for cp in plan.configs}
    assert list(env)[0] == "a@warmup"
    # the warm-up run starts no zygote of its own and keeps nothing: a@1 and b@1 are both forks
    assert WARM_KEEP_ENV not in env["a@warmup"] and WARM_OWN_ENV not in env["a@warmup"]
    assert not any(z.own_run for z in plan.zygotes)
    assert env["a@1"].get(WARM_KEEP_ENV) == env["b@1"].get(WARM_KEEP_ENV) == "1"
