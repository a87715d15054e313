"""Turn a PostgreSQL result into the service's response (docs/data-api.md §3).

Rows are read as PostgreSQL's text output (the session runs with
``TimeZone=UTC``, ``DateStyle=ISO``, ``bytea_output=hex``), which already has
the service's formats for dates, times and timestamps (PostgreSQL drops the
trailing zeros of a fraction, as the service does). Types the service does not
support fail the whole call with ``UnsupportedResultException``.
"""

from __future__ import annotations

import base64
import enum
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.pq.abc import PGresult

from alex_db.testing.dataapi.errors import ApiError


class Kind(enum.Enum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    NUMERIC = "numeric"
    TEXT = "text"
    DATE = "date"  # date and timestamp: text as is, but +-infinity fails
    TIME = "time"
    TIMESTAMPTZ = "timestamptz"
    JSON = "json"
    BYTEA = "bytea"
    BIT = "bit"  # only as an array element (BIT[] is listed, scalar bit is not)
    ARRAY = "array"


@dataclass(frozen=True)
class TypeInfo:
    name: str  # as PgJDBC's getColumnTypeName() reports it: int4, _int4, "char"...
    kind: Kind | None  # None: the service does not support the type
    jdbc: int  # java.sql.Types code (PgJDBC's mapping)
    element: TypeInfo | None = None  # for arrays


_UNKNOWN_LENGTH = 2**31 - 1  # PgJDBC's "unknown length" for unbounded types

# Scalar types the service lists as supported (docs/data-api.md §3.1), plus the ones it
# names as unsupported so their message carries PgJDBC's spelling.
_SCALARS: dict[int, TypeInfo] = {
    info_oid: TypeInfo(name, kind, jdbc)
    for info_oid, name, kind, jdbc in [
        (16, "bool", Kind.BOOL, -7),
        (17, "bytea", Kind.BYTEA, -2),
        (18, '"char"', None, 1),
        (19, "name", Kind.TEXT, 12),
        (20, "int8", Kind.INT, -5),
        (21, "int2", Kind.INT, 5),
        (23, "int4", Kind.INT, 4),
        (25, "text", Kind.TEXT, 12),
        (114, "json", Kind.JSON, 1111),
        (650, "cidr", Kind.TEXT, 1111),
        (700, "float4", Kind.FLOAT, 7),
        (701, "float8", Kind.FLOAT, 8),
        (790, "money", None, 8),
        (869, "inet", Kind.TEXT, 1111),
        (1042, "bpchar", Kind.TEXT, 1),
        (1043, "varchar", Kind.TEXT, 12),
        (1082, "date", Kind.DATE, 91),
        (1083, "time", Kind.TIME, 92),
        (1114, "timestamp", Kind.DATE, 93),
        (1184, "timestamptz", Kind.TIMESTAMPTZ, 93),
        (1186, "interval", None, 1111),
        (1266, "timetz", None, 92),
        (1560, "bit", None, -7),
        (1700, "numeric", Kind.NUMERIC, 2),
        (2205, "regclass", None, 1111),
        (2950, "uuid", Kind.TEXT, 1111),
        (3802, "jsonb", Kind.JSON, 1111),
        # Not in the documented list, but `SELECT pg_advisory_xact_lock(...)` and
        # `SELECT pg_sleep(...)` are everyday calls; PgJDBC reads void as "" (unconfirmed).
        (2278, "void", Kind.TEXT, 1111),
    ]
}

# Array types the service lists as supported: array OID -> element OID.
_ARRAYS: dict[int, int] = {
    1000: 16,  # bool[]
    1561: 1560,  # bit[]
    1182: 1082,  # date[]
    1231: 1700,  # numeric[]
    1022: 701,  # float8[]
    1021: 700,  # float4[]
    1005: 21,  # int2[]
    1007: 23,  # int4[]
    1016: 20,  # int8[]
    199: 114,  # json[]
    3807: 3802,  # jsonb[]
    1009: 25,  # text[]
    1014: 1042,  # bpchar[]
    1015: 1043,  # varchar[]
    1003: 19,  # name[]
    1183: 1083,  # time[]
    1115: 1114,  # timestamp[]
    2951: 2950,  # uuid[]
}


def _builtin(oid: int) -> TypeInfo | None:
    if oid in _SCALARS:
        return _SCALARS[oid]
    element_oid = _ARRAYS.get(oid)
    if element_oid is None:
        return None
    element = _SCALARS[element_oid]
    if element.kind is None:
        element = TypeInfo(element.name, Kind.BIT, element.jdbc)
    return TypeInfo(f"_{element.name}", Kind.ARRAY, 2003, element)


class TypeCatalog:
    """Type information for result columns, looked up in pg_type for non-builtin OIDs.

    Enum types (and the pgvector ``vector`` type) are supported and come back
    as strings; every other non-builtin type is unsupported. Cached per
    database, since user-defined OIDs differ between databases.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], TypeInfo] = {}
        self._lock = threading.Lock()

    def resolve(
        self, conn: psycopg.Connection[Any], database: str, oids: Iterable[int]
    ) -> dict[int, TypeInfo]:
        found: dict[int, TypeInfo] = {}
        missing: list[int] = []
        with self._lock:
            for oid in set(oids):
                info = _builtin(oid) or self._cache.get((database, oid))
                if info is None:
                    missing.append(oid)
                else:
                    found[oid] = info
        if missing:
            rows = conn.execute(
                "SELECT oid::int8, typname::text, typtype::text"
                " FROM pg_type WHERE oid = ANY($1::oid[])",
                [missing],
            ).fetchall()
            with self._lock:
                for oid, typname, typtype in rows:
                    supported = typtype == "e" or typname == "vector"
                    info = TypeInfo(typname, Kind.TEXT if supported else None, 1111)
                    self._cache[(database, oid)] = info
                    found[oid] = info
        for oid in missing:
            found.setdefault(oid, TypeInfo(str(oid), None, 1111))
        return found


@dataclass(frozen=True)
class ResultOptions:
    decimal_as_number: bool = False  # resultSetOptions.decimalReturnType = DOUBLE_OR_LONG
    long_as_string: bool = False  # resultSetOptions.longReturnType = STRING


@dataclass(frozen=True)
class Column:
    name: str
    oid: int
    modifier: int
    table_oid: int
    table_column: int
    info: TypeInfo


def unsupported(info: TypeInfo) -> ApiError:
    # Casing follows the one captured sample, `"CHAR"`: PgJDBC's name, upper-cased.
    return ApiError(
        "UnsupportedResultException",
        f"The result contains the unsupported data type {info.name.upper()}.",
    )


def _infinite() -> ApiError:
    # Reported (unconfirmed): +-infinity dates fail with an empty 500.
    return ApiError("InternalServerErrorException")


def _utc_text(text: str) -> str:
    """A timestamptz as UTC without an offset; the session already runs in UTC."""
    if text.endswith("+00"):
        return text[:-3]
    if text in ("infinity", "-infinity"):
        raise _infinite()
    # Someone ran SET TIME ZONE inside the transaction: convert back to UTC.
    sign = 1 if "+" in text[10:] else -1
    cut = max(text.rfind("+"), text.rfind("-"))
    body, offset = text[:cut], text[cut + 1 :]
    pieces = [int(p) for p in offset.split(":")] + [0, 0]
    moment = datetime.fromisoformat(body) - sign * timedelta(
        hours=pieces[0], minutes=pieces[1], seconds=pieces[2]
    )
    stamp = moment.replace(tzinfo=None).isoformat(sep=" ")
    return stamp.rstrip("0").rstrip(".") if "." in stamp else stamp


def _compact_json(text: str) -> str:
    # v2 re-serializes JSON compactly (docs/data-api.md §3.1); Jackson keeps non-ASCII as is.
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def _numeric(text: str, options: ResultOptions) -> tuple[str, Any]:
    if not options.decimal_as_number or text in ("NaN", "Infinity", "-Infinity"):
        return "stringValue", text
    return ("doubleValue", float(text)) if "." in text else ("longValue", int(text))


def _date(text: str, options: ResultOptions) -> tuple[str, Any]:
    if text in ("infinity", "-infinity"):
        raise _infinite()
    return "stringValue", text


_SCALAR_FIELDS: dict[Kind, Callable[[str, ResultOptions], tuple[str, Any]]] = {
    Kind.TEXT: lambda text, _: ("stringValue", text),
    Kind.TIME: lambda text, _: ("stringValue", text),
    Kind.INT: lambda text, o: (
        ("stringValue", text) if o.long_as_string else ("longValue", int(text))
    ),
    Kind.BOOL: lambda text, _: ("booleanValue", text == "t"),
    Kind.FLOAT: lambda text, _: ("doubleValue", float(text)),
    Kind.NUMERIC: _numeric,
    Kind.DATE: _date,
    Kind.TIMESTAMPTZ: lambda text, _: ("stringValue", _utc_text(text)),
    Kind.JSON: lambda text, _: ("stringValue", _compact_json(text)),
    Kind.BYTEA: lambda text, _: ("blobValue", base64.b64encode(bytes.fromhex(text[2:])).decode()),
    Kind.BIT: lambda text, _: ("booleanValue", text == "1"),
}


def _scalar(kind: Kind, text: str, options: ResultOptions) -> tuple[str, Any]:
    """The Field member and value for one non-null value in PostgreSQL text form."""
    return _SCALAR_FIELDS[kind](text, options)


def _array_key(kind: Kind, options: ResultOptions) -> str:
    if kind is Kind.INT and not options.long_as_string:
        return "longValues"
    if kind is Kind.FLOAT:
        return "doubleValues"
    if kind in (Kind.BOOL, Kind.BIT):
        return "booleanValues"
    return "stringValues"


def parse_array(text: str) -> list[str | None] | None:
    """Elements of a one-dimensional array in PostgreSQL text form; None if multidimensional."""
    if text.startswith("["):  # explicit bounds, e.g. [0:2]={1,2,3}
        bounds, _, text = text.partition("=")
        if "][" in bounds:
            return None
    if text == "{}":
        return []
    elements: list[str | None] = []
    i, n = 1, len(text) - 1  # inside the outer braces
    while i < n:
        if text[i] == "{":
            return None
        if text[i] == '"':
            chars: list[str] = []
            i += 1
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                chars.append(text[i])
                i += 1
            elements.append("".join(chars))
            i += 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            item = text[i:end]
            elements.append(None if item.upper() == "NULL" else item)
            i = end
        i += 1  # the comma
    return elements


def _array(info: TypeInfo, text: str, options: ResultOptions) -> tuple[str, Any]:
    assert info.element is not None
    assert info.element.kind is not None
    items = parse_array(text)
    if items is None:
        raise ApiError("UnsupportedResultException", "The result contains a multidimensional array")
    kind = info.element.kind
    # An array holds one member type, so numeric[] stays strings even with DOUBLE_OR_LONG.
    options = ResultOptions(long_as_string=options.long_as_string)
    values = [None if item is None else _scalar(kind, item, options)[1] for item in items]
    return "arrayValue", {_array_key(kind, options): values}


def field(info: TypeInfo, raw: bytes | None, options: ResultOptions) -> tuple[str, Any]:
    """(member, value) of the Field for one raw value; ``("isNull", True)`` for NULL."""
    if raw is None:
        return "isNull", True
    text = raw.decode()
    if info.kind is Kind.ARRAY:
        return _array(info, text, options)
    assert info.kind is not None
    return _scalar(info.kind, text, options)


_FIXED_PRECISION = {16: 1, 21: 5, 23: 10, 20: 19, 700: 8, 701: 17, 1082: 13}
_TIME_PRECISION = {1083: 8, 1114: 22, 1184: 28}  # plus the fraction's digits and point


def _precision(oid: int, modifier: int) -> int:
    """PgJDBC's getPrecision(): digits, characters or display size by type."""
    if oid in _FIXED_PRECISION:
        return _FIXED_PRECISION[oid]
    if oid == 1700:
        return 0 if modifier == -1 else ((modifier - 4) >> 16) & 0xFFFF
    if oid in _TIME_PRECISION:
        fraction = 7 if modifier == -1 else (0 if modifier == 0 else modifier + 1)
        return _TIME_PRECISION[oid] + fraction
    if oid in (1042, 1043) and modifier != -1:
        return modifier - 4
    return _UNKNOWN_LENGTH


def _scale(oid: int, modifier: int) -> int:
    if oid == 700:
        return 8
    if oid == 701:
        return 17
    if oid == 1700:
        return 0 if modifier == -1 else (modifier - 4) & 0xFFFF
    if oid in (1083, 1114, 1184):
        return 6 if modifier == -1 else modifier
    return 0


@dataclass(frozen=True)
class Attribute:
    table: str
    not_null: bool
    auto_increment: bool


def attributes(
    conn: psycopg.Connection[Any], columns: list[Column]
) -> dict[tuple[int, int], Attribute]:
    """Catalog facts for result columns that come straight from a table."""
    tables = sorted({c.table_oid for c in columns if c.table_oid})
    if not tables:
        return {}
    rows = conn.execute(
        """
        SELECT a.attrelid::int8, a.attnum::int4, c.relname::text, a.attnotnull,
               a.attidentity <> ''
               OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0
        """,
        [tables],
    ).fetchall()
    return {(r[0], r[1]): Attribute(r[2], r[3], r[4]) for r in rows}


_SERIAL = {"int2": "smallserial", "int4": "serial", "int8": "bigserial"}
_CASE_INSENSITIVE = {
    Kind.BOOL,
    Kind.INT,
    Kind.FLOAT,
    Kind.NUMERIC,
    Kind.DATE,
    Kind.TIME,
    Kind.TIMESTAMPTZ,
}


def column_metadata(column: Column, attribute: Attribute | None) -> dict[str, Any]:
    """One ColumnMetadata, with the values PgJDBC's ResultSetMetaData gives (§3.2 of
    docs/data-api.md)."""
    info = column.info
    auto = attribute is not None and attribute.auto_increment
    type_name = _SERIAL.get(info.name, info.name) if auto else info.name
    return {
        "name": column.name,
        "label": column.name,
        "type": info.jdbc,
        "typeName": type_name,
        "schemaName": "",  # PgJDBC's getSchemaName() is always ""
        "tableName": attribute.table if attribute else "",
        "isAutoIncrement": auto,
        "isSigned": info.kind in (Kind.INT, Kind.FLOAT, Kind.NUMERIC),
        "isCurrency": False,  # only money, which is unsupported
        "isCaseSensitive": info.kind not in _CASE_INSENSITIVE,
        "nullable": 0 if attribute is not None and attribute.not_null else 1,
        "precision": _precision(column.oid, column.modifier),
        "scale": _scale(column.oid, column.modifier),
        "arrayBaseColumnType": info.element.jdbc if info.element else 0,
    }


def columns_of(result: PGresult, types: dict[int, TypeInfo]) -> list[Column]:
    columns = []
    for i in range(result.nfields):
        oid = result.ftype(i)
        info = types[oid]
        if info.kind is None:
            raise unsupported(info)
        name = (result.fname(i) or b"").decode()
        columns.append(
            Column(name, oid, result.fmod(i), result.ftable(i), result.ftablecol(i), info)
        )
    return columns


def _size_error(limit: int) -> ApiError:
    # Reported v2 text (third-party, unconfirmed); the limit is configurable.
    shown = "1 MB" if limit == 1024 * 1024 else f"{limit} bytes"
    return ApiError("UnsupportedResultException", f"The result exceeds the size limit {shown}")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def render_records(
    result: PGresult,
    columns: list[Column],
    options: ResultOptions,
    metadata: list[dict[str, Any]] | None,
    limit: int,
) -> bytes:
    """The ExecuteStatement body for a row-returning statement, ``records`` form."""
    head = b'{"numberOfRecordsUpdated":0,'
    if metadata is not None:
        head += b'"columnMetadata":' + _dumps(metadata) + b","
    head += b'"records":['
    parts = [head]
    size = len(head) + 2
    for row in range(result.ntuples):
        values = [
            dict([field(col.info, result.get_value(row, i), options)])
            for i, col in enumerate(columns)
        ]
        chunk = _dumps(values)
        size += len(chunk) + 1
        if size > limit:
            raise _size_error(limit)
        parts.append(chunk)
    return parts[0] + b",".join(parts[1:]) + b"]}"


def render_json(
    result: PGresult, columns: list[Column], options: ResultOptions, limit: int
) -> bytes:
    """The ExecuteStatement body with ``formatRecordsAs: JSON`` (docs/data-api.md §3.4)."""
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        # The doc says duplicate column names fail; the code is not stated.
        # BadRequestException, as the doc gives for the JSON size limit.
        raise ApiError(
            "BadRequestException",
            "The result contains duplicate column names; use aliases to make them unique",
        )
    rows = []
    for row in range(result.ntuples):
        record = {}
        for i, col in enumerate(columns):
            member, value = field(col.info, result.get_value(row, i), options)
            if member == "isNull":
                value = None
            elif member == "arrayValue":
                (value,) = value.values()
            record[col.name] = value
        rows.append(record)
    formatted = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    if len(formatted.encode()) > limit:
        raise ApiError("BadRequestException", f"The result exceeds the size limit {limit} bytes")
    return _dumps({"formattedRecords": formatted, "numberOfRecordsUpdated": 0})
