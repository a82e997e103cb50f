"""YAML loading and turning pydantic errors into one line per problem (file, field, what).

Reading refuses what could hurt before anything is built from it: files too large to be
a configuration, text that is not UTF-8 (named by line, column and byte offset), duplicate
keys (YAML would silently keep the last), and alias bombs (a few lines whose aliases
expand to billions of nodes once anything walks them; named by the anchor that expands)."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Type, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 1 << 20       # an experiment or inventory is a few KB; a CSV passed by mistake is not
MAX_EXPANDED_NODES = 100_000   # YAML nodes after every alias is expanded
MAX_DEPTH = 50                 # nesting levels; a configuration has fewer than 10
SHOWN_VALUE_CHARS = 60         # how much of a bad value an error line repeats


def clip(value: Any, limit: int = SHOWN_VALUE_CHARS) -> str:
    """repr(value), cut at a word boundary when long, saying how long it was: an error
    line repeats enough of a value to find it, never a whole pasted blob."""
    text = repr(value)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return f"{cut}… ({len(text)} characters)"


def _where(path: Path, mark) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, and keeps what an alias
    bomb's error line names: each anchor (&name) and how often an alias (*name) uses it."""

    def __init__(self, stream):
        super().__init__(stream)
        self.anchored: list[tuple[yaml.Node, str]] = []  # in the order composed: inner before outer
        self.alias_uses: dict[int, int] = {}              # id(anchored node) -> aliases written of it

    def compose_node(self, parent, index):
        event = self.peek_event()
        node = super().compose_node(parent, index)
        if isinstance(event, yaml.AliasEvent):  # the node is the anchored one itself, shared
            self.alias_uses[id(node)] = self.alias_uses.get(id(node), 0) + 1
        elif event.anchor is not None:  # a name of letters, digits, - and _, but of any length
            name = event.anchor if len(event.anchor) <= 40 else f"{event.anchor[:40]}…"
            self.anchored.append((node, name))
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            # Only the keys written in this mapping: a key that overrides one merged in
            # with `<<: *base` is how merges are meant to be used.
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader reports it itself
                    continue
                if first is not None:
                    raise _Duplicate(key, key_node.start_mark, first.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


class _TooDeep(Exception):
    pass


class _Duplicate(Exception):
    def __init__(self, key, mark, first_mark):
        self.key, self.mark, self.first_mark = key, mark, first_mark


def _expanded_size(node: yaml.Node, limit: int, sizes: dict[int, int]) -> int:
    """How many nodes `node` stands for once every alias is expanded (stops counting past
    `limit`). Aliases share node objects, so sizes are memoized per node in `sizes`: linear
    time, and a later call for another node reuses what an earlier one counted."""

    def size(n: yaml.Node, depth: int) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if depth > MAX_DEPTH:
            raise _TooDeep()
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > limit:
                    break
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > limit:
                    break
        sizes[id(n)] = total
        return total

    return size(node, 0)


def _expansion_error(path: Path, loader: _Loader, root: yaml.Node, sizes: dict[int, int]) -> ConfigError:
    """The one line for a document past MAX_EXPANDED_NODES, naming the anchor to blame: the
    innermost aliased one that alone expands past the limit (in a "billion laughs" each
    level repeats the one before), else the one whose aliases add the most values."""
    aliased = [(n, name) for n, name in loader.anchored if id(n) in loader.alias_uses]
    for node, name in aliased:  # inner anchors first: the first too large is the innermost
        if _expanded_size(node, MAX_EXPANDED_NODES, sizes) > MAX_EXPANDED_NODES:
            uses = loader.alias_uses[id(node)]
            return ConfigError([f"{_where(path, node.start_mark)}: anchor &{name} expands to more than "
                                f"{MAX_EXPANDED_NODES} values once its aliases (*name) are expanded, and "
                                f"*{name} repeats it {uses} time{'s' if uses > 1 else ''}; "
                                "write the values out or use fewer nested aliases"])
    used = [(loader.alias_uses[id(n)] * _expanded_size(n, MAX_EXPANDED_NODES, sizes), n, name) for n, name in aliased]
    if not used:
        return ConfigError([f"{_where(path, root.start_mark)}: more than {MAX_EXPANDED_NODES} values, "
                            "more than a configuration can be"])
    added, node, name = max(used, key=lambda t: t[0])
    return ConfigError([f"{_where(path, node.start_mark)}: the YAML expands to more than {MAX_EXPANDED_NODES} "
                        f"values once its aliases (*name) are expanded, {added} of them from the "
                        f"{loader.alias_uses[id(node)]} aliases of anchor &{name}; write the values out "
                        "or use fewer aliases"])


def _utf8(path: Path, data: bytes) -> str:
    """The text of a configuration file, or one line naming the line, column (in characters,
    as an editor shows it) and byte offset where it stops being UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[line_start:e.start].decode("utf-8")) + 1  # all valid before the first bad byte
        bad = data[e.start:e.end]
        shown = ("bytes " if len(bad) > 1 else "byte ") + " ".join(f"0x{b:02x}" for b in bad)
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        raise ConfigError([f"{path}:{line}:{column}: not UTF-8 text: {shown} at offset {e.start} ({e.reason})"
                           f"{'; the file is UTF-16 (it starts with a byte-order mark)' if utf16 else ''}; "
                           "save it as UTF-8"]) from None


def read_yaml(path: str | Path) -> Any:
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError([f"{p}: {p.stat().st_size} bytes, more than a configuration file can be "
                               f"({MAX_FILE_BYTES} bytes); pass the experiment or inventory YAML"])
        text = _utf8(p, p.read_bytes())
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found; pass an existing YAML file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{p}: is a directory; pass a YAML file"]) from None
    except OSError as e:
        raise ConfigError([f"{p}: cannot read: {e.strerror or e}"]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}
        if _expanded_size(node, MAX_EXPANDED_NODES, sizes) > MAX_EXPANDED_NODES:
            raise _expansion_error(p, loader, node, sizes)
        return loader.construct_document(node)
    except _Duplicate as d:
        raise ConfigError([f"{_where(p, d.mark)}: duplicate key {clip(d.key)} (first at line "
                           f"{d.first_mark.line + 1}); YAML would silently keep only the last, remove one"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError([f"{_where(p, mark)}: YAML syntax error: {problem}"]) from None
    except (_TooDeep, RecursionError):
        raise ConfigError([f"{p}: nested more than {MAX_DEPTH} levels deep, more than a configuration can be"]) from None
    finally:
        loader.dispose()


def field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + clip(part, 40).strip("'\"")
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
        return f"{msg} (got {clip(got)})"
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
