"""SQLAlchemy dialect ``postgresql+alexdataapi``: sqlalchemy-aurora-data-api, corrected.

It subclasses ``AuroraPostgresDataAPIDialect`` and changes what SQLAlchemy 2.x
needs (each is listed in the README so it can go upstream):

* ``Numeric`` values reach the driver as ``Decimal`` (sent as exact strings with
  the DECIMAL hint); the base dialect lets SQLAlchemy turn them into floats.
* Generic ``Uuid`` columns are sent with the UUID hint and read back as ``UUID``.
* ``DateTime(timezone=True)`` keeps its microseconds and its offset: the value is
  sent as ISO text and cast in SQL (the base dialect truncates to milliseconds
  and silently drops the zone).
* ``AUTOCOMMIT`` is a real isolation level: statements go without a Data API
  transaction, so a read is one HTTP call.
* The first connection costs one call: version, schema and string settings come
  from a single statement, and the isolation level is known without asking.
* Reflection (``alembic check``) works: catalog columns of types the Data API
  cannot return (``oid``, ``"char"``, ``regclass``, ``int2vector``, ...) are
  selected cast to a type it can.
* Bulk INSERTs never exceed the 65,536-character SQL limit: plain executemany
  goes to BatchExecuteStatement, and ``insertmanyvalues`` (INSERT .. RETURNING of
  many rows) is paged small enough.
* Parameters whose SQL type PostgreSQL cannot infer from a Data API Field render
  ``CAST(:p AS type)`` (SQLAlchemy's RENDER_CASTS, as for psycopg): integers, floats,
  dates and times, intervals, JSON paths and indexes, arrays. Names the Data API
  cannot carry are escaped. ``Time`` keeps microseconds and offset, ``Interval`` and
  arrays travel both ways, and every isolation level works. SQLAlchemy's and
  Alembic's own suites hold the dialect to this (``dialect_suite/``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Text, cast, func, type_coerce, util
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import types as pg_types
from sqlalchemy.dialects.postgresql.base import PGCompiler
from sqlalchemy.dialects.postgresql.json import JSONPathType
from sqlalchemy.dialects.postgresql.pg_catalog import INT2VECTOR, OIDVECTOR, PG_NODE_TREE
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine.interfaces import BindTyping, DBAPIConnection, IsolationLevel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy_aurora_data_api import AuroraPostgresDataAPIDialect

from alex_db.dataapi import driver, limits

# A multi-row INSERT .. VALUES .. RETURNING renders every row's parameters into the
# SQL: page it so that a row of up to 12 columns stays under the SQL length limit.
INSERTMANYVALUES_PAGE_SIZE = limits.rows_per_insert(columns=12)


# Bind parameters of these types are rendered CAST(:name AS <type>) (SQLAlchemy's
# RENDER_CASTS bind typing, as its psycopg dialect does): a Data API parameter carries
# a value type (long, string, ...) and at most a hint, never the SQL type, so without
# the cast PostgreSQL could not type a NULL, an integer argument or a JSON path.


class _DateTime(sqltypes.DateTime):
    """Send ISO text with full precision and offset, cast in SQL; the driver decodes results."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None  # the driver already returns datetime objects


class _Date(sqltypes.Date):
    """Dates travel with the DATE hint; the driver decodes results."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Any:
        return None

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None


_OFFSET_HOURS = re.compile(r"[+-]\d\d$")


class _Time(sqltypes.Time):
    """ISO text with microseconds and, for TIME WITH TIME ZONE, the offset (the base
    dialect formats milliseconds and drops the zone); the driver decodes results."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            return value.isoformat() if isinstance(value, dt.time) else value

        return process

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        # The Data API cannot return TIME WITH TIME ZONE: select it as text.
        return type_coerce(cast(colexpr, Text), self) if self.timezone else colexpr

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if not self.timezone:
            return None  # the driver decodes TIME

        def process(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            found = _OFFSET_HOURS.search(value)  # "+05" -> "+05:00"
            return dt.time.fromisoformat(value + ":00" if found else value)

        return process


class _Interval(pg_types.INTERVAL):
    """timedelta: sent as exact text cast to INTERVAL. The Data API cannot return an
    INTERVAL, so it is selected as its length in seconds (EXTRACT(EPOCH), exact since
    PostgreSQL 14: a month counts 30 days, a year 365.25, as in PostgreSQL's own
    arithmetic) and read back as a timedelta."""

    render_bind_cast = True

    @classmethod
    def adapt_emulated_to_native(  # type: ignore[override]  # as the base class does
        cls, impl: Any, **kw: Any
    ) -> _Interval:
        # The base class names INTERVAL itself here, which would bypass this type.
        return cls(precision=impl.second_precision)

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            if isinstance(value, dt.timedelta):
                return (
                    f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds"
                )
            return value

        return process

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        return type_coerce(cast(func.extract("epoch", colexpr), Text), self)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> Any:
            if value is None or isinstance(value, dt.timedelta):
                return value
            microseconds = Decimal(str(value)) * 1_000_000
            return dt.timedelta(microseconds=int(microseconds.to_integral_value()))

        return process


def _array_literal(value: Any) -> str:
    """A PostgreSQL array literal ('{1,2}', '{{"a","b"},{NULL,"c"}}') for a nested list."""
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_literal(item) for item in value) + "}"
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return repr(value)  # inf and nan are valid float input
    if isinstance(value, Decimal):
        return format(value, "f")
    text = value.isoformat() if isinstance(value, dt.date | dt.time) else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Array(PG_ARRAY[Any]):
    """Lists: the Data API takes no array parameters (and the base dialect joins
    strings with a separator), so the list goes as an array literal cast to the
    column's array type. Results come back as arrays of one dimension."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Any:
        items = super().bind_processor(dialect)  # the item type's own conversion

        def process(value: Any) -> Any:
            if value is None:
                return None
            return _array_literal(items(value) if items else value)

        return process


# JSON element access: the SQL type a path or index parameter is cast to (these types
# have no DDL name of their own for the type compiler to render).


class _JSONPath(JSONPathType):
    render_bind_cast = True
    bind_cast_type = "TEXT[]"  # the #> and #>> operators' path


class _JSONIntIndex(sqltypes.JSON.JSONIntIndexType):
    render_bind_cast = True
    bind_cast_type = "INTEGER"


class _JSONStrIndex(sqltypes.JSON.JSONStrIndexType):
    render_bind_cast = True
    bind_cast_type = "TEXT"


class _Uuid(pg_types.PGUuid[Any]):
    """UUIDs travel with the UUID hint; the driver returns ``uuid.UUID``."""

    def bind_processor(self, dialect: Any) -> Any:
        if self.as_uuid:
            return None

        def process(value: Any) -> Any:
            return uuid.UUID(value) if isinstance(value, str) else value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if self.as_uuid:
            return None
        return lambda value: None if value is None else str(value)


class _Integer(sqltypes.Integer):
    # longValue arrives as bigint, and PostgreSQL does not narrow bigint implicitly:
    # functions taking integer (generate_subscripts, make_interval, ...) would not
    # match. psycopg sends the smallest type that fits; the cast does the same.
    render_bind_cast = True


class _SmallInteger(sqltypes.SmallInteger):
    render_bind_cast = True


class _Float(sqltypes.Float[Any]):
    # The cast types the text the driver sends for infinity and NaN.
    render_bind_cast = True


# --- catalog types the Data API cannot return: select them as something it can ---------


class _OID(pg_types.OID):
    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(colexpr, BigInteger)


class _REGCLASS(pg_types.REGCLASS):
    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(colexpr, Text)


class _CHAR(sqltypes.CHAR):
    # pg_catalog's one-byte "char" columns (relkind, contype, ...)
    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(colexpr, Text)


class _SpaceSeparatedInts(sqltypes.TypeDecorator[list[int]]):
    """int2vector / oidvector: selected as text ("1 2 3"), read back as a list of ints."""

    impl = Text
    cache_ok = True

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        # type_coerce keeps this type on the result column, so the value is parsed
        return type_coerce(cast(colexpr, Text), self)

    def process_result_value(self, value: Any, dialect: Any) -> list[int] | None:
        if value is None:
            return None
        return [int(part) for part in value.split()]


class _NodeTree(sqltypes.TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(colexpr, Text)


# What a Data API parameter name can be: other names (``1param``, ``q?marks``, non-ASCII)
# are sent under an escaped name, as SQLAlchemy escapes names for other drivers.
_PLAIN_BIND_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _escaped(name: str) -> str:
    return "p_" + "".join(
        c if c.isascii() and (c.isalnum() or c == "_") else f"_{ord(c):x}_" for c in name
    )


class AlexDataAPICompiler(PGCompiler):
    def bindparam_string(  # noqa: PLR0917 - SQLAlchemy's signature
        self,
        name: str,
        post_compile: bool = False,
        expanding: bool = False,
        escaped_from: str | None = None,
        bindparam_type: TypeEngine[Any] | None = None,
        accumulate_bind_names: set[str] | None = None,
        visited_bindparam: list[str] | None = None,
        **kw: Any,
    ) -> str:
        if not escaped_from and not _PLAIN_BIND_NAME.match(name):
            escaped_from, name = name, _escaped(name)
        return super().bindparam_string(
            name,
            post_compile,
            expanding,
            escaped_from,
            bindparam_type,
            accumulate_bind_names,
            visited_bindparam,
            **kw,
        )

    def render_bind_cast(self, type_: Any, dbapi_type: Any, sqltext: str) -> str:
        # CAST(...) rather than PostgreSQL's ::, which would follow a :name parameter.
        target = getattr(dbapi_type, "bind_cast_type", None) or (
            self.dialect.type_compiler_instance.process(
                dbapi_type, identifier_preparer=self.preparer
            )
        )
        return f"CAST({sqltext} AS {target})"


_ISOLATION_LEVELS: tuple[IsolationLevel, ...] = (
    "AUTOCOMMIT",
    "READ COMMITTED",
    "READ UNCOMMITTED",
    "REPEATABLE READ",
    "SERIALIZABLE",
)

_VERSION = re.compile(r".*(?:PostgreSQL|EnterpriseDB) (\d+)\.?(\d+)?(?:\.(\d+))?")


# The one bootstrap statement: what SQLAlchemy asks every new engine, and the schema's
# Alembic revision (a database without alembic_version costs a second call: it is not
# migrated, and the caller is about to be told so).
_BOOTSTRAP = (
    "SELECT pg_catalog.version(), current_schema(), current_setting('standard_conforming_strings')"
)
_WITH_REVISIONS = ", (SELECT string_agg(version_num, ',') FROM alembic_version)"


class AlexDataAPIDialect(AuroraPostgresDataAPIDialect):
    driver = "alexdataapi"
    statement_compiler = AlexDataAPICompiler
    bind_typing = BindTyping.RENDER_CASTS
    supports_statement_cache = True
    supports_native_decimal = True
    supports_native_uuid = True
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = False
    use_insertmanyvalues = True
    use_insertmanyvalues_wo_returning = False
    insertmanyvalues_page_size = INSERTMANYVALUES_PAGE_SIZE

    colspecs = util.update_copy(
        AuroraPostgresDataAPIDialect.colspecs,
        {
            sqltypes.DateTime: _DateTime,
            sqltypes.Date: _Date,
            sqltypes.Time: _Time,
            sqltypes.ARRAY: _Array,
            PG_ARRAY: _Array,
            sqltypes.Interval: _Interval,
            pg_types.INTERVAL: _Interval,
            sqltypes.JSON.JSONPathType: _JSONPath,
            JSONPathType: _JSONPath,
            sqltypes.JSON.JSONIntIndexType: _JSONIntIndex,
            sqltypes.JSON.JSONStrIndexType: _JSONStrIndex,
            sqltypes.Uuid: _Uuid,
            sqltypes.Integer: _Integer,
            sqltypes.SmallInteger: _SmallInteger,
            sqltypes.Float: _Float,
            sqltypes.BigInteger: sqltypes.BigInteger,
            pg_types.OID: _OID,
            pg_types.REGCLASS: _REGCLASS,
            sqltypes.CHAR: _CHAR,
            INT2VECTOR: _SpaceSeparatedInts,
            OIDVECTOR: _SpaceSeparatedInts,
            PG_NODE_TREE: _NodeTree,
        },
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bootstrap: tuple[str, str, str] | None = None

    # The schema's Alembic revisions, read in the bootstrap call (None: no alembic_version
    # table); set by the first connection, for alex_db.Database.check_schema.
    schema_revisions: tuple[str, ...] | None

    @classmethod
    def import_dbapi(cls) -> Any:
        return driver

    def create_connect_args(self, url: Any) -> tuple[list[Any], dict[str, Any]]:
        # The engine factory (alex_db.dataapi.make_data_api_engine) passes everything
        # through connect_args, with a URL that only names the database. A URL that
        # carries the ARNs (create_engine("postgresql+alexdataapi://...?resource_arn=...
        # &secret_arn=...&region=..."), as SQLAlchemy's own test suite and other tools
        # make engines) gets its client from the environment's settings.
        if not url.query:
            return [], {"database": url.database}
        from alex_db.config import Settings
        from alex_db.dataapi import connect_args_for

        return [], connect_args_for(url, Settings())

    # --- one bootstrap call ------------------------------------------------------------

    def initialize(self, connection: SAConnection) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        previous = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # no transaction around the bootstrap read
        try:
            try:
                row = connection.exec_driver_sql(_BOOTSTRAP + _WITH_REVISIONS).one()
                revisions = tuple(str(row[3]).split(",")) if row[3] else ()
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != "42P01":  # no alembic_version
                    raise
                row, revisions = connection.exec_driver_sql(_BOOTSTRAP).one(), None
        finally:
            dbapi_connection.autocommit = previous
        self._bootstrap = (str(row[0]), str(row[1]), str(row[2]))
        self.schema_revisions = revisions
        super().initialize(connection)

    def _get_server_version_info(self, connection: SAConnection) -> tuple[int, ...]:
        assert self._bootstrap is not None
        found = _VERSION.match(self._bootstrap[0])
        if not found:
            raise AssertionError(f"cannot read a version from {self._bootstrap[0]!r}")
        return tuple(int(x) for x in found.group(1, 2, 3) if x is not None)

    def _get_default_schema_name(self, connection: SAConnection) -> str:
        assert self._bootstrap is not None
        return self._bootstrap[1]

    def _set_backslash_escapes(self, connection: SAConnection) -> None:
        assert self._bootstrap is not None
        self._backslash_escapes = self._bootstrap[2] == "off"

    # --- autocommit ----------------------------------------------------------------------

    def get_isolation_level_values(self, dbapi_conn: DBAPIConnection) -> list[IsolationLevel]:
        return list(_ISOLATION_LEVELS)

    def set_isolation_level(self, dbapi_connection: DBAPIConnection, level: IsolationLevel) -> None:
        # AUTOCOMMIT: statements go without a Data API transaction. The others apply from
        # the next transaction on (one more call at its start, only when not the default).
        dbapi_connection.autocommit = level == "AUTOCOMMIT"
        if level != "AUTOCOMMIT":
            dbapi_connection.isolation_level = None if level == "READ COMMITTED" else level

    def get_isolation_level(self, dbapi_connection: DBAPIConnection) -> IsolationLevel:
        # Aurora PostgreSQL runs READ COMMITTED unless told otherwise; asking would cost a call.
        if dbapi_connection.autocommit:
            return "AUTOCOMMIT"
        level: IsolationLevel = dbapi_connection.isolation_level or "READ COMMITTED"
        return level

    def get_default_isolation_level(self, dbapi_conn: DBAPIConnection) -> IsolationLevel:
        # The first connection's level, as SQLAlchemy expects: an engine's own
        # isolation_level (AUTOCOMMIT aside) is already set on it when this is asked.
        level: IsolationLevel = dbapi_conn.isolation_level or "READ COMMITTED"
        return level

    # --- errors ---------------------------------------------------------------------------

    def is_disconnect(self, e: Exception, connection: Any, cursor: Any) -> bool:
        # A transaction the service forgot (expired, or ended by an error) cannot be
        # used again: let SQLAlchemy discard the connection.
        if isinstance(e, driver.TransactionLostError):
            return True
        sqlstate = getattr(e, "sqlstate", None) or ""
        return sqlstate.startswith(("08", "57P0"))
