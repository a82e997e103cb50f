"""Typed parts of the task spec: frozen dataclasses read from the JSON objects nested in a
task.json (the workload, its dataset, threads, the strategy's cluster facts, ...).

Each field's type is checked against its annotation as the part is built, so a host reads
attributes (`spec.workload.batch_size`), never string keys, and a key the contract does not
know, a missing required one or a value of the wrong type is one SpecError naming its path
(`workload.dataset.shape[1]: must be an integer, got '3'`). A part read from JSON writes back
exactly the keys it was given (`to_dict`), so reading and writing a spec leaves its JSON
form unchanged; an absent key reads as the field's default. Standard library only."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from types import MappingProxyType, NoneType
from typing import Any, Union, get_args, get_origin, get_type_hints


class SpecError(ValueError):
    """A task spec that does not hold: names the field and what is wrong."""

    def __init__(self, problem: str, field: str = ""):
        self.problem, self.field = problem, field
        super().__init__(f"{field}: {problem}" if field else problem)

    def under(self, name: str) -> "SpecError":
        """The same problem, one level down: `name` is the field that holds this one."""
        return SpecError(self.problem, f"{name}.{self.field}" if self.field and not self.field.startswith("[")
                         else f"{name}{self.field}")


@dataclasses.dataclass(frozen=True)
class Part:
    """Base of the typed parts; subclasses are frozen dataclasses with annotated fields
    (str, int, float, bool, Optional[...], tuple[X, ...], Mapping[str, X], a Part, Any)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, read_value(hints[f.name], getattr(self, f.name), f.name))
        self.check()

    def check(self) -> None:
        """Rules beyond the field types (known names); raises SpecError."""

    @classmethod
    def from_dict(cls, data: Any):
        """The part of JSON object `data`; SpecError on unknown, missing or mistyped fields."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise SpecError(f"must be a mapping, got {_type_name(data)}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [str(k) for k in data if k not in fields]
        if unknown:
            raise SpecError(f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(fields)}")
        missing = [n for n, f in fields.items() if n not in data
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise SpecError(f"missing field(s) {', '.join(missing)}")
        part = cls(**data)
        object.__setattr__(part, "_given", tuple(data))
        return part

    @classmethod
    def empty(cls):
        """The part of an empty JSON object: every field its default, written back as {}."""
        return cls.from_dict({})

    def to_dict(self) -> dict:
        """Its JSON form: the keys it was read with (all fields when built directly)."""
        keys = getattr(self, "_given", None)
        if keys is None:
            keys = [f.name for f in dataclasses.fields(self)]
        return {k: plain(getattr(self, k)) for k in keys}


def plain(value: Any) -> Any:
    """A part's value as JSON: parts as dicts, read-only mappings as dicts, tuples as lists."""
    if isinstance(value, Part):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def freeze(value: Any) -> Any:
    """Read-only copy of a JSON value: mappings as MappingProxyType, lists as tuples."""
    if isinstance(value, Part):
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def read_value(hint: Any, value: Any, field: str) -> Any:
    """`value` checked against type `hint` and made read-only; SpecError naming `field`."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Union:
        if value is None and NoneType in args:
            return None
        inner = [a for a in args if a is not NoneType]
        if len(inner) != 1:
            raise TypeError(f"{field}: only Optional[X] unions are supported, not {hint}")
        return read_value(inner[0], value, field)
    if hint is Any:
        return freeze(value)
    if value is None:
        raise SpecError("must not be null", field)
    if isinstance(hint, type) and issubclass(hint, Part):
        try:
            return hint.from_dict(value)
        except SpecError as e:
            raise e.under(field) from None
    if hint in _SCALARS:
        ok, what = _SCALARS[hint]
        if not ok(value):
            raise SpecError(f"must be {what}, got {value!r}", field)
        return value
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"must be a list, got {_type_name(value)}", field)
        return tuple(read_value(args[0], v, f"{field}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise SpecError(f"must be a mapping, got {_type_name(value)}", field)
        if not all(isinstance(k, str) for k in value):
            raise SpecError("keys must be strings", field)
        return MappingProxyType({k: read_value(args[1], v, f"{field}.{k}") for k, v in value.items()})
    raise TypeError(f"{field}: unsupported field type {hint}")


_SCALARS = {
    str: (lambda v: isinstance(v, str), "a string"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: type(v) is int, "an integer"),
    # JSON has one number type: 1 is a valid float field (kept as written: the JSON form round-trips).
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", NoneType: "null"}.get(type(value), type(value).__name__)
