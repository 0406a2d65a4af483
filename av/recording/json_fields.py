"""Typed reading of JSON fields that names the offending field in its error."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from av.recording.errors import ManifestError

__all__ = ["FieldReader"]

_E = TypeVar("_E", bound=enum.StrEnum)


class FieldReader:
    """Typed access to JSON values that raises ManifestError naming the field."""

    def __init__(self, path: object) -> None:
        self.path = path

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ManifestError(self.path, f"{where or 'the manifest'} is not a JSON object")
        return value

    def get(
        self,
        d: Mapping[str, Any],
        key: str,
        kind: type[Any],
        where: str,
        *,
        minimum: int | None = None,
        optional: bool = False,
    ) -> Any:
        name = f"{where}.{key}" if where else key
        if key not in d and not optional:
            raise ManifestError(self.path, f"{name} is missing")
        value = d.get(key)
        if value is None and optional:
            return None
        # bool is a subclass of int: refuse true/false where a number is expected.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ManifestError(self.path, f"{name} must be of type {kind.__name__}")
        if minimum is not None and value < minimum:
            raise ManifestError(self.path, f"{name} must be at least {minimum}")
        return value

    def time(self, d: Mapping[str, Any], key: str, where: str) -> str:
        value: str = self.get(d, key, str, where)
        try:
            datetime.fromisoformat(value)
        except ValueError as e:
            raise ManifestError(self.path, f"{where}.{key} is not an ISO-8601 time") from e
        return value

    def enum(self, d: Mapping[str, Any], key: str, kind: type[_E], where: str) -> _E:
        value: str = self.get(d, key, str, where)
        try:
            return kind(value)
        except ValueError as e:
            raise ManifestError(
                self.path, f"{where}.{key} {value!r} is not one of {list(kind)}"
            ) from e

    def items(self, d: Mapping[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
        values: list[Any] = self.get(d, key, list, where)
        base = f"{where}.{key}" if where else key
        return [(f"{base}[{i}]", self.obj(v, f"{base}[{i}]")) for i, v in enumerate(values)]
