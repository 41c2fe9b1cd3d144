"""Declared, typed parameters: the generic machinery behind every config section.

A section is a frozen dataclass whose fields are declared with :func:`param` (default,
one-line doc, allowed range); :func:`build_section` turns a mapping read from YAML or
given on the command line into that dataclass, coercing each value to the declared type
and checking its range, or raises a ConfigError naming the key, the bad value and what
is allowed::

    @dataclass(frozen=True)
    class StaysConfig:
        tau_min: float = param(30.0, "Stay: minimum duration in minutes.", gt=0)

    build_section("stays", StaysConfig, {"tau_min": "45"})  # StaysConfig(tau_min=45.0)

Supported field types: bool, int, float, str, datetime.date, ``tuple[X, ...]``,
``dict[str, str]`` and ``str | S`` where S is a structured value class with a
``parse(key, value)`` classmethod and a ``to_dict()`` method (e.g. config.UnitLayer).
A section may define ``check()`` for rules across its fields. Nothing here knows a
section by name: the sections live in ``mobsig.config`` (and the synthetic-city settings
in ``mobsig.synth.config``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

import yaml

from mobsig.errors import ConfigError


def param(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Iterable[Any] | None = None,
) -> Any:
    """Declare a config field with its default, a one-line doc and its allowed range."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt,
            "choices": tuple(choices) if choices is not None else None}
    if isinstance(default, (list, dict)):
        frozen = tuple(default) if isinstance(default, list) else types.MappingProxyType(default)
        return field(default_factory=lambda: frozen, metadata=meta)
    return field(default=default, metadata=meta)


def range_text(meta: Mapping[str, Any]) -> str:
    """The allowed range of a field as text, e.g. ``> 0 and <= 1`` ('' when unbounded)."""
    parts = []
    for key, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if meta.get(key) is not None:
            parts.append(f"{sym} {meta[key]}")
    if meta.get("choices"):
        parts.append("one of " + ", ".join(repr(c) for c in meta["choices"]))
    return " and ".join(parts)


def _structured_type(hint: Any) -> type | None:
    """The structured value class of a ``str | S`` hint (S has ``parse`` and ``to_dict``)."""
    for arg in typing.get_args(hint):
        if isinstance(arg, type) and hasattr(arg, "parse") and hasattr(arg, "to_dict"):
            return arg
    return None


def coerce(key: str, value: Any, hint: Any) -> Any:
    """Coerce a YAML or command-line value to the declared type, or raise ConfigError."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return "" if value is None else str(value)
    if hint is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ConfigError(f"{key}: {str(value)!r} is not a date; use YYYY-MM-DD") from None
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if isinstance(value, str) and value.strip().startswith("["):
            value = yaml.safe_load(value)  # a YAML list on the command line
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return types.MappingProxyType({str(k): str(v) for k, v in value.items()})
    structured = _structured_type(hint)
    if structured is not None:  # str | S: a plain string, or a mapping parsed by S
        if isinstance(value, str) and value.strip().startswith("{"):
            value = yaml.safe_load(value)  # a mapping given on the command line
        if value is None or (isinstance(value, str) and not value.strip()):
            return ""  # not set (a section's check refuses it where a value is required)
        return structured.parse(key, value)  # type: ignore[attr-defined]
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def check_field(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    """Raise ConfigError unless ``value`` is among the field's choices and in its range."""
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            f"{key}: {value!r} is not allowed; allowed values: "
            + ", ".join(repr(c) for c in choices))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bad = ((meta.get("ge") is not None and value < meta["ge"])
               or (meta.get("gt") is not None and value <= meta["gt"])
               or (meta.get("le") is not None and value > meta["le"])
               or (meta.get("lt") is not None and value >= meta["lt"]))
        if bad:
            raise ConfigError(f"{key}: {value!r} is out of range; must be {range_text(meta)}")


def build_section(name: str, cls: type, raw: Any) -> Any:
    """The section ``cls`` built from ``raw`` (a mapping of its keys; None = defaults):
    unknown keys, wrong types and values out of range raise ConfigError; then the
    section's own ``check()`` (rules across fields) runs."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a mapping of keys, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {name}.{unknown[0]}; allowed keys in '{name}': "
            + ", ".join(sorted(fields)))
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        full = f"{name}.{key}"
        coerced = coerce(full, value, hints[key])
        check_field(full, coerced, fields[key].metadata)
        kwargs[key] = coerced
    section = cls(**kwargs)
    check = getattr(section, "check", None)
    if check:
        check()
    return section


def plain(v: Any) -> Any:
    """A field value as plain YAML/JSON data (lists, dicts, ISO dates)."""
    if isinstance(v, tuple):
        return [plain(x) for x in v]
    if hasattr(v, "to_dict") and dataclasses.is_dataclass(v):
        return v.to_dict()
    if isinstance(v, types.MappingProxyType):
        return dict(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def section_dict(section: Any) -> dict[str, Any]:
    """Every field of a section as plain data (see :func:`plain`)."""
    return {f.name: plain(getattr(section, f.name)) for f in dataclasses.fields(section)}


def explain_section(name: str, cls: type) -> list[str]:
    """``[name]`` and one line per field: default, doc and allowed range."""
    lines = [f"[{name}]"]
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rng = range_text(f.metadata)
        lines.append(f"  {f.name} = {plain(default)!r}  # {f.metadata['doc']}"
                     + (f" ({rng})" if rng else ""))
    return lines


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``section.key=value`` into its parts, with a clear error."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected section.key=value")
    lhs, value = text.split("=", 1)
    parts = lhs.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"override {text!r}: expected section.key=value, e.g. stays.tau_min=45")
    return parts[0], parts[1], value.strip()
