"""From TOML tables and dotted command-line overrides to typed, frozen dataclasses.

Generic: knows nothing of trueloop's stages. `build(cls, data, where)` checks every key against
the dataclass's fields and turns each value into the field's declared type (unions with None,
`Literal`, tuples, bool/int/float/str), raising ValueError with the dotted key and what it must be.
`trueloop.config` uses it for `RunConfig`; `trueloop rescore` and the audit reuse it.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from typing import Any, Literal


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn a TOML/CLI value into the field's declared type, or say why not."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
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
        node = out
        *parents, leaf = key.replace("-", "_").split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
