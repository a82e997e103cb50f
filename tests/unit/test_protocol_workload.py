"""harness/protocol/workload.py: the host's typed workload has the config's fields and
defaults, and both sides refuse the same unknown optimizer and dataset names from one list."""

import dataclasses
import typing

import pytest
from pydantic import ValidationError

from harness.config.experiment import DatasetSpec, Threads as ConfigThreads, Workload as ConfigWorkload
from harness.protocol.parts import SpecError
from harness.protocol.spec import Threads
from harness.protocol.workload import DATASETS, OPTIMIZERS, Dataset, Workload


@pytest.mark.parametrize("config_model, part", [(ConfigWorkload, Workload), (DatasetSpec, Dataset),
                                                (ConfigThreads, Threads)])
def test_the_host_reads_the_fields_and_defaults_the_config_writes(config_model, part):
    fields = {f.name: f for f in dataclasses.fields(part)}
    assert list(fields) == list(config_model.model_fields)   # same names, same order (the JSON's)
    for name, f in config_model.model_fields.items():
        if f.is_required():
            assert fields[name].default is dataclasses.MISSING, name
            continue
        default = f.get_default(call_default_factory=True)
        ours = fields[name].default_factory() if fields[name].default is dataclasses.MISSING else fields[name].default
        assert (ours == default) or (ours == () and default == []), (name, ours, default)


def test_a_complete_config_workload_reads_back_unchanged():
    w = ConfigWorkload(model="mlp", dataset={"name": "synthetic", "shape": [4, 4, 1]}, batch_size=8, epochs=1,
                       metrics={}, env={"A": "1"})
    data = w.model_dump()
    assert Workload.from_dict(data).to_dict() == data


def test_both_sides_check_names_against_the_same_lists():
    assert typing.get_args(ConfigWorkload.model_fields["optimizer"].annotation) == OPTIMIZERS
    assert typing.get_args(DatasetSpec.model_fields["name"].annotation) == DATASETS
    with pytest.raises(ValidationError):
        ConfigWorkload(model="mlp", dataset={"name": "digits"}, batch_size=8, epochs=1, optimizer="adamw")
    with pytest.raises(SpecError, match=r"^optimizer: unknown optimizer 'adamw'; expected one of adam, momentum, "
                                        r"rmsprop, sgd$"):
        Workload.from_dict({"optimizer": "adamw"})
    with pytest.raises(SpecError, match=r"^name: unknown dataset 'mnist'; expected one of cifar10, digits, "):
        Dataset(name="mnist")
