"""Bind ``SqlParameter`` values with the PostgreSQL types the service uses (docs/data-api.md §2).

The service sits on JDBC: ``longValue`` arrives as ``bigint``, ``doubleValue``
as ``double precision``, ``blobValue`` as ``bytea``, ``isNull`` as an untyped
NULL and, crucially, ``stringValue`` as a *typed* ``character varying``, so an
uncast string into a uuid/jsonb/date/numeric column fails with 42804 exactly as
on AWS. A ``typeHint`` binds the string with the hinted type instead.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, ClassVar

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import AdaptersMap, Dumper
from psycopg.types.numeric import Int8BinaryDumper, Int8Dumper
from psycopg.types.string import StrBinaryDumperVarchar, StrDumperVarchar

from alex_db.testing.dataapi.errors import ApiError, constraint, validation
from alex_db.testing.dataapi.sql import ParsedSql

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class Hinted(str):
    """A ``stringValue`` sent with a ``typeHint``: bound with that type's OID."""

    __slots__ = ()
    oid: ClassVar[int]


class HintedDate(Hinted):
    __slots__ = ()
    oid = 1082


class HintedTime(Hinted):
    __slots__ = ()
    oid = 1083


class HintedTimestamp(Hinted):
    __slots__ = ()
    oid = 1114


class HintedDecimal(Hinted):
    __slots__ = ()
    oid = 1700


class HintedJson(Hinted):
    __slots__ = ()
    oid = 114


class HintedUuid(Hinted):
    __slots__ = ()
    oid = 2950


class _HintedDumper(Dumper):
    def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        self.oid = getattr(cls, "oid", 0)

    def dump(self, obj: Any) -> Buffer:
        return str(obj).encode()


# Documented formats (docs/data-api.md §2.3). The docs show at most three fractional
# digits; JDBC's Timestamp.valueOf, which the service appears to use, takes up
# to nine, so up to nine are accepted (unconfirmed). A "T" separator or a zone
# offset is outside the documented format and is rejected rather than silently
# reinterpreted.
_FRACTION = r"(?:\.\d{1,9})?"
_HINTS: dict[str, tuple[type[Hinted], re.Pattern[str] | None, str]] = {
    "DATE": (HintedDate, re.compile(r"\d{4}-\d{2}-\d{2}"), "YYYY-MM-DD"),
    "TIME": (HintedTime, re.compile(rf"\d{{2}}:\d{{2}}:\d{{2}}{_FRACTION}"), "HH:MM:SS[.FFF]"),
    "TIMESTAMP": (
        HintedTimestamp,
        re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}{_FRACTION}"),
        "YYYY-MM-DD HH:MM:SS[.FFF]",
    ),
    "DECIMAL": (HintedDecimal, None, ""),
    "JSON": (HintedJson, None, ""),
    "UUID": (HintedUuid, None, ""),
}
TYPE_HINTS = tuple(_HINTS)


def adapters() -> AdaptersMap:
    """The adapters every emulator connection uses for its parameters."""
    amap = AdaptersMap(psycopg.adapters)
    amap.register_dumper(str, StrDumperVarchar)
    amap.register_dumper(str, StrBinaryDumperVarchar)
    amap.register_dumper(int, Int8Dumper)  # setLong: always bigint, never int2/int4
    amap.register_dumper(int, Int8BinaryDumper)
    for cls, _, _ in _HINTS.values():
        amap.register_dumper(cls, _HintedDumper)
    return amap


def _field_value(field: object, hint: object, where: str) -> object:
    """The Python value to bind for one ``Field`` (a union: exactly one member)."""
    if not isinstance(field, dict) or len(field) != 1:
        raise validation(f"{where}: a Field must have exactly one member set")
    ((member, value),) = field.items()
    if member == "isNull":
        return None
    if member == "booleanValue" and isinstance(value, bool):
        return value
    if member == "longValue" and isinstance(value, int) and not isinstance(value, bool):
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise ApiError("SerializationException", f"{where}: longValue out of range")
        return value
    if member == "doubleValue" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if member == "blobValue" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ApiError("SerializationException", f"{where}: blobValue is not base64") from exc
    if member == "stringValue" and isinstance(value, str):
        return _hinted(value, hint, where)
    if member == "arrayValue":
        # Model doc: "Array parameters are not supported."; v2 code reported as
        # ValidationException (third-party, unconfirmed).
        raise validation("Array parameters are not supported.")
    raise ApiError("SerializationException", f"{where}: unexpected Field member {member!r}")


def _hinted(value: str, hint: object, where: str) -> str:
    if hint is None:
        return value
    cls, pattern, shape = _HINTS[str(hint)]
    if pattern is not None and not pattern.fullmatch(value):
        # The service's text for a malformed hinted value is not documented.
        raise validation(
            f"The value of {where} doesn't match the format of typeHint {hint}: {shape}"
        )
    return cls(value)


def bind(parsed: ParsedSql, parameters: object, where: str = "parameters") -> list[object]:
    """Values for ``$1``, ``$2``... of ``parsed`` from one list of ``SqlParameter``."""
    if parameters is None:
        parameters = []
    if not isinstance(parameters, list):
        raise ApiError("SerializationException", f"{where} must be a list")
    supplied: dict[str, object] = {}
    for index, param in enumerate(parameters, start=1):
        path = f"{where}.{index}.member"
        if not isinstance(param, dict):
            raise ApiError("SerializationException", f"{path} must be an object")
        hint = param.get("typeHint")
        if hint is not None and hint not in _HINTS:
            raise constraint(
                f"{path}.typeHint", hint, f"satisfy enum value set: [{', '.join(TYPE_HINTS)}]"
            )
        if "value" not in param:
            raise constraint(f"{path}.value", None, "not be null")
        value = _field_value(param["value"], hint, path)
        name = param.get("name")
        if isinstance(name, str):
            supplied[name] = value
    values: list[object] = []
    for name in parsed.names:
        if name not in supplied:
            # Unconfirmed text: JDBC's complaint for a placeholder without a value,
            # in the layout of the other database errors.
            raise ApiError(
                "DatabaseErrorException",
                f'ERROR: No value specified for parameter "{name}"; SQLState: 22023',
            )
        values.append(supplied[name])
    return values
