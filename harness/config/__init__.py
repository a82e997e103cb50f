"""Validated configuration: inventories of hosts and experiments (pydantic v2 + YAML)."""

from harness.config.experiment import Configuration, DatasetSpec, Experiment, Threads, Workload, load_experiment
from harness.config.inventory import Host, Inventory, load_inventory
from harness.config.crosscheck import check_experiment_against_inventory

__all__ = [
    "Configuration", "DatasetSpec", "Experiment", "Threads", "Workload", "load_experiment",
    "Host", "Inventory", "load_inventory", "check_experiment_against_inventory",
]
