"""Frozen dataclasses from YAML mappings, checked against their type hints: a typo or an impossible value fails naming
its dotted key. What the sections are is mm.config; this is only how a mapping becomes one."""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal

import yaml


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.2 floats: `5e-05` (as `dvc exp run -S` writes it) is a float, not PyYAML's YAML 1.1 string."""


_YamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
                                  list("-+0123456789"))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 (a SafeLoader)


class ParamsError(ValueError):
    """A params.yaml key is unknown, of the wrong type, or out of range."""


def build(cls: type, raw: dict[str, Any], section: str) -> Any:
    """`cls(**raw)` once every key is one of its fields and of its type, then its own `check()` of the values."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{section}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        if key not in hints:
            raise ParamsError(f"unknown key '{section}.{key}'; known: {sorted(hints)}")
        check_type(value, hints[key], f"{section}.{key}")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in raw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ParamsError(f"missing key '{section}.{missing[0]}'")
    obj = cls(**raw)
    obj.check()
    return obj


def check_type(value: Any, hint: Any, key: str) -> None:
    if not _matches(value, hint):
        raise ParamsError(f"'{key}' = {value!r} is not of type {_name(hint)}")


def _matches(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def require_known(source: str, key: str, name: str, known: Any, what: str) -> None:
    if name not in known:
        raise ParamsError(f"{source}: '{key}' names {name!r}, not a {what}; known: {sorted(known)}")


def require(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ParamsError(f"'{key}' {why}")
