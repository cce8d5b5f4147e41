"""From TOML tables and dotted command-line overrides to typed, frozen dataclasses, and back to
help text.

Generic: knows nothing of trueloop's stages. `build(cls, data, where)` checks every key against
the dataclass's fields and turns each value into the field's declared type (unions with None,
`Literal`, tuples, bool/int/float/str), raising ValueError with the dotted key and what it must be.
`trueloop.config` uses it for `RunConfig` (a TOML file or a run's config.json).

`fields_help(cls)` lists every field of a dataclass tree (dotted key, type, default, doc) for a
command's `--help`. A field's doc is the comment block on the lines right under it (cleanrl's
`Args` style, which STYLE.md asks for), read from the module's source with `ast` (where each field
ends) and the source lines (its comments). Chosen over `field(metadata={"doc": ...})` because the
config file stays plain to read, every default a bare value next to its name. Not tyro, draccus
or simple_parsing: each would replace the parser `trueloop train` uses (its runs are checked
bit-for-bit, its flags called by other tools) to gain what the 90 lines below `merge` do. The
source must be present (an installed package has it; a zipped one without .py files does not).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import sys
import textwrap
import tomllib
import types
import typing
from typing import Any, Literal


def _is_union(origin: Any) -> bool:
    """`X | None` (types.UnionType) or `Optional[X]` (typing.Union)."""
    return origin is typing.Union or origin is types.UnionType


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn a TOML/CLI value into the field's declared type, or say why not."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if _is_union(origin):
        if value is None or value == "none":
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), where)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{where} must be one of {list(args)}; got {value!r}.")
        return value
    if origin is tuple:
        items = json.loads(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError(f"{where} must be a list; got {value!r}.")
        inner = args[0] if args else str
        return tuple(_coerce(v, inner, where) for v in items)
    try:
        if tp is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return value.lower() in ("true", "1")
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return tp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be {tp.__name__}; got {value!r}.") from None


def build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in [{where or 'top level'}]; "
                         f"known: {sorted(names)}.")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ValueError(f"[{key}] must be a table; got {value!r}.")
            kwargs[name] = build(tp, value, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
    return cls(**kwargs)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["--update.lr", "3e-4", "steps=5"]` -> nested dict; values parse as TOML scalars."""
    out: dict[str, Any] = {}
    tokens = list(pairs)
    while tokens:
        tok = tokens.pop(0)
        if "=" in tok:
            key, raw = tok.lstrip("-").split("=", 1)
        else:
            if not tokens:
                raise ValueError(f"override {tok!r} has no value; write --section.key VALUE.")
            key, raw = tok.lstrip("-"), tokens.pop(0)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        set_dotted(out, key.replace("-", "_"), value)
    return out


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """`tree["a"]["b"] = value` for key "a.b", making the tables on the way."""
    *parents, leaf = key.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def only_tables(extra: dict[str, Any], tables: tuple[str, ...], why: str = "") -> dict[str, Any]:
    """`extra` (parsed overrides) when it sets fields of `tables` only; else a ValueError naming
    the other tables (`why`: a sentence saying why those are refused)."""
    other = sorted(set(extra) - set(tables))
    if other:
        names = ", ".join(f"[{t}]" for t in tables)
        raise ValueError(f"this command takes {names} settings only (--{tables[0]}.KEY VALUE); "
                         f"got {other}.{' ' + why if why else ''}")
    return extra


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the comment lines right under the field in the source of `cls` (a class at
    the top level of its module), joined into one text ("" for a field with none)."""
    tree, lines = _module_source(cls.__module__)
    body = next(n.body for n in tree.body if isinstance(n, ast.ClassDef)
                and n.name == cls.__qualname__)
    docs = {}
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            comments = []
            for line in lines[node.end_lineno:]:
                if not line.strip().startswith("#"):
                    break
                comments.append(line.strip().removeprefix("#").strip())
            docs[node.target.id] = " ".join(comments)
    return docs


@functools.cache
def _module_source(module: str) -> tuple[ast.Module, list[str]]:
    """A module's syntax tree and lines, read once (every command's parser asks for them)."""
    source = inspect.getsource(sys.modules[module])
    return ast.parse(source), source.splitlines()


@dataclasses.dataclass(frozen=True)
class FieldDoc:
    key: str
    # dotted key, as an override names it ("update.lr")
    type: str
    # as the help writes it: `int | none`, `{race,cdf}` (a Literal), `list[str]`
    default: str
    # as TOML / an override writes it
    doc: str
    # the comment lines under the field, joined


def describe(cls: type, where: str = "") -> list[FieldDoc]:
    """Every leaf field of the dataclass tree `cls`, in declaration order."""
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            out += describe(hints[f.name], key)
        else:
            default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            out.append(FieldDoc(key, type_text(hints[f.name]), value_text(default),
                              docs.get(f.name, "")))
    return out


@functools.cache
def fields_help(cls: type, tables: tuple[str, ...] | None = None, width: int = 100) -> str:
    """`--help` text for the fields of `cls` (only those under `tables` when given), grouped by
    table: `--key TYPE (default D)` then the doc line(s), indented."""
    lines, table = [], None
    for f in describe(cls):
        head = f.key.rpartition(".")[0]
        if tables is not None and head.split(".")[0] not in tables:
            continue
        if head != table:
            table = head
            lines.append(f"[{head}]" if head else "[top level]")
        lines.append(f"  --{f.key} {f.type} (default {f.default})")
        lines += textwrap.wrap(f.doc, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def type_text(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "{" + ",".join(str(a) for a in args) + "}"
    if _is_union(origin):
        return " | ".join("none" if a is type(None) else type_text(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list[{type_text(args[0])}]"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    return tp.__name__


def value_text(value: Any) -> str:
    """A default as an override would write it: true/false, none, "text", [a, b], numbers."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return repr(value)
