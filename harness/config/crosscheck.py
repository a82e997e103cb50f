"""Checks that need both files: do the configurations fit the inventory?"""

from __future__ import annotations

from harness.config.experiment import Experiment
from harness.config.inventory import Inventory
from harness.errors import ConfigError


def check_experiment_against_inventory(exp: Experiment, inv: Inventory, exp_path: str, inv_path: str) -> None:
    problems = []
    for i, cfg in enumerate(exp.configurations):
        where = f"{exp_path}: configurations[{i}]"
        if cfg.hosts:
            for sel in cfg.hosts:
                if not inv.select([sel]):
                    problems.append(f"{where}.hosts: {sel!r} matches no host in {inv_path} "
                                    f"(names: {', '.join(h.name for h in inv.hosts)}; or use key=value labels)")
        hosts = inv.select(cfg.hosts)
        if not hosts:
            continue
        # Training slots bound the workers; ps tasks run beside them and take none.
        slots = sum(h.slots for h in hosts)
        if cfg.workers > slots:
            problems.append(f"{where}.workers: {cfg.workers} workers need {cfg.workers} slots but the "
                            f"selected hosts of {inv_path} have {slots}; lower workers or add hosts/slots")
    if problems:
        raise ConfigError(problems)
