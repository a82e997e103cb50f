"""The only place that runs commands on hosts: local subprocess or SSH."""

from harness.transport.base import CommandResult, Transport
from harness.transport.local import LocalTransport

__all__ = ["CommandResult", "Transport", "LocalTransport"]
