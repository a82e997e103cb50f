"""harness/protocol/parts.py and the typed parts of the task spec (workload, dataset,
threads, cluster): attributes, checked types with the field's path, read-only values, and
a JSON form that reads back exactly as it was written."""

import json

import pytest

from harness.protocol.cluster import Cluster, MpiContext, Slot
from harness.protocol.parts import SpecError
from harness.protocol.spec import ResumeFrom, SpotWatchSettings, TaskSpec, Threads
from harness.protocol.workload import Dataset, Workload

WHO = dict(run_id="r1", experiment="e", config="one", strategy="horovod", task_id="worker-0", role="worker", host="h1")
SLOT = {"host": "h1", "hostname": "0-h1", "rank": 0, "size": 2, "local_rank": 0, "local_size": 2,
        "cross_rank": 0, "cross_size": 1}


def test_nested_parts_are_typed_attributes():
    spec = TaskSpec(**WHO, workload={"model": "mlp", "batch_size": 8, "dataset": {"name": "digits"}, "args": ["-v"]},
                    threads={"intra_op": 2}, cluster={"port": 29500, "slots": [SLOT, {**SLOT, "rank": 1}]},
                    spot_watch={"interval_s": 2}, resume_from={"step": 4})
    assert isinstance(spec.workload, Workload) and isinstance(spec.workload.dataset, Dataset)
    assert spec.workload.dataset.name == "digits" and spec.workload.batch_size == 8 and spec.workload.args == ("-v",)
    assert isinstance(spec.threads, Threads) and spec.threads.intra_op == 2 and spec.threads.inter_op is None
    assert isinstance(spec.cluster, Cluster) and [s.rank for s in spec.cluster.slots] == [0, 1]
    assert isinstance(spec.cluster.slots[0], Slot) and spec.cluster.port == 29500
    assert isinstance(spec.spot_watch, SpotWatchSettings) and spec.spot_watch.interval_s == 2
    assert isinstance(spec.resume_from, ResumeFrom) and spec.resume_from.step == 4
    assert spec.resume_from.checkpoint_path is None


def test_an_absent_key_reads_as_the_default_and_is_not_written_back():
    data = {**WHO, "workload": {"model": "mlp", "dataset": {"name": "digits", "limit": 5}}, "threads": {},
            "cluster": {"launcher": "gloo", "local_rank": 1}, "spec_version": 1}
    spec = TaskSpec.from_dict(data)
    w = spec.workload
    assert (w.optimizer, w.learning_rate, w.log_every, w.seed, w.dataset.validation_split) == ("sgd", 0.01, 1, 0, 0.2)
    assert spec.cluster.contexts == () and spec.cluster.ssh is None and spec.cluster.cluster == {}
    # Reading and writing leave the JSON form as it was: no defaults added, key order kept.
    assert json.dumps(spec.to_dict(), sort_keys=False) == json.dumps(TaskSpec.from_dict(data).to_dict())
    assert spec.to_dict()["workload"] == {"model": "mlp", "dataset": {"name": "digits", "limit": 5}}
    assert spec.to_dict()["threads"] == {} and spec["cluster"] == {"launcher": "gloo", "local_rank": 1}


def test_a_part_built_directly_writes_every_field():
    assert Threads(intra_op=1).to_dict() == {"intra_op": 1, "inter_op": None, "omp": None, "kmp_affinity": None,
                                             "kmp_blocktime": None}
    assert TaskSpec(**WHO, threads=Threads(intra_op=1)).threads.intra_op == 1


def test_values_are_read_only():
    spec = TaskSpec(**WHO, workload={"model": "mlp", "metrics": {"loss": "l=(.*)"}, "env": {"A": "1"}},
                    cluster={"cluster": {"worker": ["a:1", "b:2"]}})
    with pytest.raises(AttributeError):
        spec.workload.batch_size = 9
    with pytest.raises(TypeError):
        spec.workload.metrics["loss"] = "x"
    with pytest.raises(TypeError):
        spec.cluster.cluster["worker"] = ()
    assert spec.cluster.cluster["worker"] == ("a:1", "b:2")


@pytest.mark.parametrize("change, message", [
    ({"workload": {"batch_size": "32"}}, "task one/worker-0: workload.batch_size: must be an integer, got '32'"),
    ({"workload": {"batch_size": True}}, "workload.batch_size: must be an integer, got True"),
    ({"workload": {"learning_rate": "0.1"}}, "workload.learning_rate: must be a number"),
    ({"workload": {"scale_lr": 1}}, "workload.scale_lr: must be true or false"),
    ({"workload": {"dataset": {"name": "digits", "shape": [8, "8"]}}}, r"workload.dataset.shape\[1\]: must be an integer"),
    ({"workload": {"dataset": {"name": "digits", "colour": True}}}, "workload.dataset: unknown field.s. colour"),
    ({"workload": {"dataset": {"path": "/d"}}}, r"workload.dataset: missing field.s. name"),
    ({"workload": {"args": "-v"}}, "workload.args: must be a list, got a string"),
    ({"workload": {"metrics": {"loss": 3}}}, "workload.metrics.loss: must be a string"),
    ({"workload": {"optimiser": "adam"}}, "workload: unknown field.s. optimiser"),
    ({"workload": {"seed": None}}, "workload.seed: must not be null"),
    ({"cluster": {"slots": [{**SLOT, "rank": "0"}]}}, r"cluster.slots\[0\].rank: must be an integer"),
    ({"cluster": {"contexts": [{"host": "h"}]}}, r"cluster.contexts\[0\]: missing field.s. address, ranks"),
    ({"cluster": {"ssh": {"port": "22"}}}, "cluster.ssh.port: must be an integer"),
    ({"resume_from": {"step": "4"}}, "resume_from.step: must be an integer"),
    ({"workload": [1]}, "workload must be a mapping or null"),
])
def test_a_bad_nested_field_is_named_by_its_path(change, message):
    with pytest.raises(SpecError, match=message):
        TaskSpec(**{**WHO, **change})


def test_from_json_a_float_field_keeps_an_integer_as_written():
    spec = TaskSpec.from_dict({**WHO, "workload": {"learning_rate": 1}, "threads": {}, "cluster": {}, "spec_version": 1})
    assert spec.workload.learning_rate == 1 and spec.to_dict()["workload"] == {"learning_rate": 1}


def test_mpi_contexts_are_typed_too():
    c = Cluster.from_dict({"contexts": [{"host": "h", "address": "localhost", "ranks": 2, "wdir": "/w",
                                         "python": "python3"}], "ssh": {"port": 2222}})
    assert c.contexts == (MpiContext(host="h", address="localhost", ranks=2, wdir="/w", python="python3"),)
    assert c.ssh.port == 2222 and c.ssh.user is None
