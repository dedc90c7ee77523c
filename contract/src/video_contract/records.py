"""JSON objects with declared fields: written in declaration order, read with every field checked.

A manifest crosses a process (and often a machine) boundary, so a reader takes nothing on trust:
a missing field, an unknown one or a value of the wrong type is a ``ManifestError`` naming the
field's path, not a ``KeyError`` three modules later.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any, ClassVar, Self, TypeVar, Union

JSON_KEY = "json_key"  # a field's metadata: its key in JSON, where that is no Python name ("from")
R = TypeVar("R", bound="Record")


class ManifestError(ValueError):
    """A manifest or record that is not what the contract says; the message names the field."""


def renamed(key: str) -> Any:
    """A field whose JSON key is ``key`` (a Python keyword)."""
    return dataclasses.field(metadata={JSON_KEY: key})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """A JSON object with exactly these fields."""

    KIND: ClassVar[str] = "record"

    def to_json(self) -> dict[str, Any]:
        return {_key(f): _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: object, *, path: str = "") -> Self:
        where = path or cls.KIND
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: expected a JSON object, got {_what(data)}")
        hints = _hints(cls)
        known = {_key(f): f for f in dataclasses.fields(cls)}
        if unknown := [key for key in data if key not in known]:
            raise ManifestError(f"{where}: unknown field {', '.join(map(repr, unknown))}")
        values = {}
        for key, field in known.items():
            if key not in data:
                if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
                    continue
                raise ManifestError(f"{where}: missing field {key!r}")
            values[field.name] = _read(data[key], hints[field.name], f"{where}.{key}")
        return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}  # each record class's resolved annotations, worked out once


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _key(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata.get(JSON_KEY, field.name))


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _what(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {str(value)[:80]!r}"


def _read(value: object, hint: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        for option in options:
            try:
                return _read(value, option, path)
            except ManifestError as exc:
                if len(options) == 1 and not str(exc).startswith(f"{path}: expected "):
                    raise  # inside the one record or collection it can be: name the field that is wrong
        names = " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in args)
        raise ManifestError(f"{path}: expected {names}, got {_what(value)}")
    if hint is type(None):
        if value is None:
            return None
    elif isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value, path=path)
    elif isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise ManifestError(f"{path}: expected one of {', '.join(str(m.value) for m in hint)}, "
                                f"got {_what(value)}") from None
    elif origin is list:
        if isinstance(value, list):
            return [_read(item, args[0], f"{path}[{n}]") for n, item in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: _read(v, args[1], f"{path}.{k}") for k, v in value.items()}
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is float:  # JSON has one number type: 4 is a float too, and stays 4 (byte for byte)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif hint in (int, str):
        if isinstance(value, hint) and not isinstance(value, bool):
            return value
    else:
        raise TypeError(f"{path}: the contract has no reader for {hint!r}")
    raise ManifestError(f"{path}: expected {getattr(hint, '__name__', str(hint))}, got {_what(value)}")
