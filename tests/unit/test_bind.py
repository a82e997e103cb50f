"""harness/stages/bind.py: the plan's tasks made final (code and dataset paths, resume point, IMDS
URL), pure; what bind returns is what plan.json holds and what each task.json gets."""

from pathlib import Path

from harness.stages.bind import bind
from harness.config import load_experiment, load_inventory
from harness.stages.plan import build_plan
from harness.protocol.spec import TaskSpec
from harness.stages.sync import HostSync

ROOT = Path(__file__).resolve().parents[2]


def _plan(tmp_path):
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    inv = load_inventory(ROOT / "hosts" / "local.yaml")
    return build_plan(exp, inv, "r1", tmp_path / "r1")


def test_binds_code_and_dataset_paths_resume_and_imds(tmp_path):
    plan = _plan(tmp_path)
    first = plan.configs[0].name
    resumed = {"run_id": "r0", "configs": {first: {"checkpoint_path": "/w/ckpt-2", "from_step": 40}}}
    bound = bind(plan, {"local": HostSync(pythonpath="/code/v1", dataset_path="/data/x")}, resumed,
                 "http://127.0.0.1:9")
    for cp in bound.configs:
        for t in cp.tasks:
            assert t.env["PYTHONPATH"] == "/code/v1" and isinstance(t.spec, TaskSpec)
            if t.role == "sampler":
                assert t.spec.workload is None and t.spec.resume_from is None
                continue
            assert t.spec["workload"]["dataset"]["path"] == "/data/x"
            want = {"run_id": "r0", "checkpoint_path": "/w/ckpt-2", "step": 40} if cp.name == first else None
            assert t.spec.get("resume_from") == want
            assert t.spec.imds_url is None   # the default experiment does not watch for spot notices
    # The input plan is untouched: bind returns new tasks.
    assert all(t.spec.resume_from is None and "PYTHONPATH" not in t.env for cp in plan.configs for t in cp.tasks)


def test_plan_json_holds_the_specs_the_hosts_get(tmp_path):
    plan = _plan(tmp_path)
    bound = bind(plan, {"local": HostSync(pythonpath="/code")})
    # Everything but the tasks is the plan's own: waves, parallel, the schedule drawn.
    assert (bound.waves, bound.parallel, bound.schedule) == (plan.waves, plan.parallel, plan.schedule)
    data = bound.to_json()
    for cp, cj in zip(bound.configs, data["configs"]):
        for t, tj in zip(cp.tasks, cj["tasks"]):
            assert TaskSpec.from_dict(tj["spec"]) == t.spec
            assert tj["spec"] == t.spec.to_dict()
            assert tj["env"] == sorted(t.env)   # names only: values may be secrets
            assert tj["task_dir"] == t.task_dir


def test_zygotes_get_the_code_path_of_their_host(tmp_path):
    # Every run of a thread sweep on one host shares an environment: warm zygotes are planned.
    exp = load_experiment(ROOT / "experiments" / "thread_sweep.yaml")
    plan = build_plan(exp.model_copy(update={"repeats": 2}), load_inventory(ROOT / "hosts" / "local.yaml"),
                      "r1", tmp_path / "r1")
    assert plan.zygotes and all("PYTHONPATH" not in z.env for z in plan.zygotes)
    bound = bind(plan, {"local": HostSync(pythonpath="/code/v1")})
    assert [z.env["PYTHONPATH"] for z in bound.zygotes] == ["/code/v1"] * len(plan.zygotes)
