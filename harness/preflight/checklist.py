"""`harness check`: every host's probe in parallel, then, with an experiment, what its
strategies need between the hosts (docs/architecture.md, pre-flight)."""

from __future__ import annotations

from harness import strategies as registry
from harness.errors import HarnessError
from harness.preflight import network as check_network


def check_hosts(hosts: str, experiment: str | None, ssh_opts) -> int:
    """Probe every host of the inventory `hosts` in parallel; with an experiment, also what
    its strategies need between the hosts (ports, hostnames, the network checks). Prints the
    table and one line per blocker; raises when a host is unreachable or not ready."""
    from harness.preflight import check
    from harness.config import load_inventory
    from harness.transport import open_transports

    inv = load_inventory(hosts)
    strategies, ports, plan, passed, exp = set(), {}, None, [], None
    if experiment:
        from harness import pipeline

        exp, _, plan = pipeline.load_and_plan(pipeline.RunOptions(experiment, hosts), "check")
        strategies = {cp.strategy for cp in plan.configs}
        for cp in plan.configs:
            for t in cp.tasks:
                ports.setdefault(t.host, []).extend(int(p) for p in t.spec.get("ports", []))
    transports, failures = open_transports(inv.hosts, ssh_opts, partial=True)
    try:
        checks = check.probe_hosts([h for h in inv.hosts if h.name in transports], transports,
                                   {h: sorted(set(p)) for h, p in ports.items()})
        if plan is not None:
            need = check_network.needs(plan, {h.name: h for h in inv.hosts})
            for name, c in checks.items():
                problem = check_network.interpret_hostname(c.facts, need[name]) if c.facts and name in need else None
                if problem:
                    c.blockers.append(problem)
                elif c.facts and name in need and need[name].resolve:
                    passed.append(f"{name}: hostname {c.facts.get('hostname')!r} resolves to "
                                  f"{', '.join(c.facts.get('hostname_addresses') or [])}")
            for name, found in _script_problems(exp, plan, inv, transports, checks).items():
                checks[name].blockers.extend(found)
            if not any(c.blockers for c in checks.values()):  # listeners need the planned ports free
                for name, found in check_network.run_network_checks(
                        [h for h in inv.hosts if h.name in transports], transports, need, passed).items():
                    checks[name].blockers.extend(found)
    finally:
        for tr in transports.values():
            tr.close()
    for name, err in failures.items():
        checks[name] = check.HostCheck(name, False, blockers=[str(err)])
    checks = {h.name: checks[h.name] for h in inv.hosts}
    check.cross_host_problems(checks, strategies)
    check.render_table(checks)
    blocked = [c.host for c in checks.values() if c.blockers]
    for line in passed:  # what -e proved between the hosts
        print(f"ok: {line}")
    for c in checks.values():  # unwrapped, one line each: for logs and for grep
        for b in c.blockers:
            print(f"{c.host}: {b}")
    if failures:
        from harness.errors import Unreachable

        raise Unreachable(f"{len(failures)} of {len(checks)} host(s) unreachable: {', '.join(sorted(failures))}"
                          + (f"; not ready: {', '.join(b for b in blocked if b not in failures)}"
                             if set(blocked) - set(failures) else ""))
    if blocked:
        raise HarnessError(f"{len(blocked)} of {len(checks)} host(s) not ready: {', '.join(blocked)}")
    return 0


def _script_problems(exp, plan, inv, transports, checks) -> dict[str, list[str]]:
    """The user's script's top-level imports, tried on every host that runs it."""
    if exp is None or not exp.workload.script:
        return {}
    from harness.preflight import script_check, script_imports

    script = exp.workload.script
    try:
        modules = script_imports.script_modules(script)
    except script_imports.ScriptSyntaxError as e:
        raise HarnessError(f"script {e}: fix it before renting hosts") from None
    envs: dict[str, dict] = {}
    for cp in plan.configs:
        for t in cp.tasks:
            if t.role != "sampler":
                envs.setdefault(t.host, dict(t.env))
    # cluster.launcher: how a strategy's ranks are started (horovod's gloo or mpi), when it says
    launchers = {t.spec.get("cluster", {}).get("launcher") for cp in plan.configs for t in cp.tasks} - {None}
    horovod = script_imports.uses_horovod(modules) or any(
        "horovod" in registry.strategy_for(cp.strategy).packages for cp in plan.configs)
    hosts = [h for h in inv.hosts if h.name in envs and h.name in transports and checks[h.name].facts]
    return script_check.check_script(script, modules, hosts, transports, envs, launchers, horovod)
