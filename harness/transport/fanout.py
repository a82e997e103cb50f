"""Run one function per host in a bounded thread pool; a failure is data, not an exception,
so one dead host never loses the other hosts' results."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Iterable, Mapping, TypeVar

from harness.errors import HarnessError, TransportError

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: T | None = None
    error: HarnessError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _default_key(item) -> Hashable:
    # Hosts (and transports) are keyed by name: pydantic Host objects are not hashable.
    name = getattr(item, "name", None)
    return name if isinstance(name, str) else item


def fan_out(items: Iterable[K] | Mapping[Hashable, K], fn: Callable[[K], T], max_workers: int = 16,
            key: Callable[[K], Hashable] = _default_key) -> dict[Hashable, Outcome[T]]:
    """{key: Outcome of fn(item)} for every item, in input order. `items` is a mapping
    {key: item}, or an iterable keyed by `key(item)` (an item's `.name` by default).
    HarnessErrors are kept as they are; any other exception becomes a TransportError naming
    the key, with the original as __cause__. Ctrl-C cancels what has not started and propagates."""
    if isinstance(items, Mapping):
        keys, items = list(items.keys()), list(items.values())
    else:
        items = list(items)
        keys = [key(i) for i in items]
    if len(set(keys)) != len(keys):
        raise ValueError(f"fan_out: duplicate keys in {keys!r}")
    if not items:
        return {}

    def run(k, item) -> Outcome[T]:
        start = time.monotonic()
        try:
            return Outcome(value=fn(item), seconds=time.monotonic() - start)
        except HarnessError as e:
            return Outcome(error=e, seconds=time.monotonic() - start)
        except Exception as e:
            err = TransportError(str(k), f"unexpected {type(e).__name__}: {e}")
            err.__cause__ = e
            return Outcome(error=err, seconds=time.monotonic() - start)

    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(items))), thread_name_prefix="fan_out")
    try:
        futures = [pool.submit(run, k, i) for k, i in zip(keys, items)]
        wait(futures)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return {k: f.result() for k, f in zip(keys, futures)}

