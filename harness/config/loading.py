"""YAML loading and turning pydantic errors into one line per problem (file, field, what)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Type, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found; pass an existing YAML file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{p}: is a directory; pass a YAML file"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{p}: cannot read: {e}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from None


def field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(err: dict) -> str:
    kind = err.get("type", "")
    msg = err.get("msg", "invalid")
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if kind == "missing":
        return "required field is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = err.get("input")
    if kind not in ("missing",) and not isinstance(got, (dict, list)) and got is not None:
        return f"{msg} (got {got!r})"
    return msg


def validation_lines(source: str | Path, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        # pydantic puts the tag of tagged unions / function validators into loc; drop those.
        loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
        lines.append(f"{source}: {field_path(loc)}: {_describe(err)}")
    return lines


def parse_model(model: Type[M], data: Any, source: str | Path) -> M:
    if data is None:
        raise ConfigError([f"{source}: file is empty; see README.md for the expected keys"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: top level must be a mapping of keys, got {type(data).__name__}"])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(validation_lines(source, e)) from None
