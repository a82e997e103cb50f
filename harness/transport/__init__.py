"""The only place that runs commands on hosts: local subprocess or SSH."""

from __future__ import annotations

from harness.transport.base import CommandResult, Transport
from harness.transport.local import LocalTransport

__all__ = ["CommandResult", "Transport", "LocalTransport", "open_transports"]


def open_transports(hosts, ssh_options=None, *, partial: bool = False):
    """One open transport per host. Unless `partial`, any failure closes the others and
    raises one error naming every host that failed; with `partial`, returns
    (transports, {host: error}) so a check can report every host."""
    from harness.errors import Unreachable

    out: dict[str, Transport] = {}
    ssh_hosts = [h for h in hosts if not h.is_local]
    for h in hosts:
        if h.is_local:
            out[h.name] = LocalTransport(h.name)
    if ssh_hosts:
        from harness.transport.fanout import fan_out
        from harness.transport.ssh import SSHOptions, SSHTransport

        opts = ssh_options or SSHOptions()
        results = fan_out({h.name: h for h in ssh_hosts}, lambda h: SSHTransport(h, opts))
        failed = {name: o.error for name, o in results.items() if o.error is not None}
        opened = {name: o.value for name, o in results.items() if o.error is None}
        out.update(opened)
        if partial:
            return out, failed
        if failed:
            for tr in out.values():
                tr.close()
            raise Unreachable("; ".join(str(failed[n]) for n in sorted(failed)) +
                               " — nothing was started; fix or remove these hosts, then run `harness check`")
    return (out, {}) if partial else out
