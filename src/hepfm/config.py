"""YAML configs: load into dataclasses, reject unknown keys, apply ``a.b=value`` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hepfm.errors import InputError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or bad YAML is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "config file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise InputError(str(path), f"not valid YAML{line}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(str(path), "top level must be a mapping of sections")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str], where: str = "--set") -> dict[str, Any]:
    """Return a copy of ``raw`` with ``section.key=value`` overrides applied (values parsed as YAML)."""
    out = _deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(where, f"override {item!r} must look like section.key=value")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(where, f"{key!r}: {part!r} is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InputError(where, f"value of {key!r} is not valid YAML: {value!r}") from None
    return out


def _deepcopy(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _deepcopy(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_deepcopy(v) for v in raw]
    return raw


def from_dict(cls: type[T], raw: dict[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``raw``; unknown keys and wrong value types are errors.

    Nested dataclass fields are built recursively; ``where`` names the config section
    in error messages (e.g. ``"recipe.yaml:train"``).
    """
    raw = check_keys(cls, raw or {}, where)
    hints = typing.get_type_hints(cls)
    kwargs = {name: coerce(hints[name], value, f"{where}.{name}") for name, value in raw.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise InputError(where, str(err)) from None


def check_keys(cls: type, data: Any, where: str) -> dict[str, Any]:
    """``data`` as a dict, after rejecting a non-mapping or keys that are not fields of dataclass ``cls``."""
    if not isinstance(data, dict):
        raise InputError(where, f"expected a mapping, got {type(data).__name__}")
    names = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(data) - set(names), key=str)
    if unknown:
        raise InputError(f"{where}.{unknown[0]}", f"unknown key; known keys: {', '.join(names)}")
    return dict(data)


def coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against type ``hint`` (numbers, str, bool, Literal, X | None, list/tuple, dataclasses)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(option, value, where)
            except InputError as err:
                errors.append(err.what)
        raise InputError(where, errors[0] if errors else "invalid value")
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is typing.Literal:
        if value not in args:
            raise InputError(where, f"must be one of {list(args)}, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e18" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(where, f"must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise InputError(where, f"must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(where, f"must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(where, f"must be a string, got {value!r}")
        return str(value)
    if origin is tuple and len(args) > 1 and args[-1] is not Ellipsis:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise InputError(where, f"expected a list of {len(args)} values, got {value!r}")
        return tuple(coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        inner = args[0] if args else Any
        items = [coerce(inner, v, f"{where}[{i}]") if inner is not Any else v for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (list, tuple):
        raise InputError(where, f"must be a list, got {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise InputError(where, f"must be a mapping, got {value!r}")
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-dict (JSON/YAML friendly) view of a dataclass."""
    return dataclasses.asdict(obj)
