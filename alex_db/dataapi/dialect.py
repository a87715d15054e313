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
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import BigInteger, Text, cast, type_coerce, util
from sqlalchemy.dialects.postgresql import types as pg_types
from sqlalchemy.dialects.postgresql.pg_catalog import INT2VECTOR, OIDVECTOR, PG_NODE_TREE
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine.interfaces import DBAPIConnection, IsolationLevel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy_aurora_data_api import AuroraPostgresDataAPIDialect

from alex_db.dataapi import driver, limits

# A multi-row INSERT .. VALUES .. RETURNING renders every row's parameters into the
# SQL: page it so that a row of up to 12 columns stays under the SQL length limit.
INSERTMANYVALUES_PAGE_SIZE = limits.rows_per_insert(columns=12)


class _DateTime(sqltypes.DateTime):
    """Send ISO text with full precision and offset, cast in SQL; the driver decodes results."""

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value

        return process

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, sqltypes.DateTime(timezone=self.timezone))

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None  # the driver already returns datetime objects


class _Date(sqltypes.Date):
    """Dates travel with the DATE hint; the driver decodes results."""

    def bind_processor(self, dialect: Any) -> Any:
        return None

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None


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
    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, sqltypes.Integer)


class _SmallInteger(sqltypes.SmallInteger):
    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, sqltypes.SmallInteger)


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
            sqltypes.Uuid: _Uuid,
            sqltypes.Integer: _Integer,
            sqltypes.SmallInteger: _SmallInteger,
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
        # through connect_args; the URL only names the database.
        return [], {"database": url.database}

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
        return ["AUTOCOMMIT", "READ COMMITTED"]

    def set_isolation_level(self, dbapi_connection: DBAPIConnection, level: IsolationLevel) -> None:
        dbapi_connection.autocommit = level == "AUTOCOMMIT"

    def get_isolation_level(self, dbapi_connection: DBAPIConnection) -> IsolationLevel:
        # Aurora PostgreSQL runs READ COMMITTED unless told otherwise; asking would cost a call.
        return "AUTOCOMMIT" if dbapi_connection.autocommit else "READ COMMITTED"

    def reset_isolation_level(self, dbapi_connection: DBAPIConnection) -> None:
        dbapi_connection.autocommit = False

    def get_default_isolation_level(self, dbapi_conn: DBAPIConnection) -> IsolationLevel:
        return "READ COMMITTED"

    # --- errors ---------------------------------------------------------------------------

    def is_disconnect(self, e: Exception, connection: Any, cursor: Any) -> bool:
        # A transaction the service forgot (expired, or ended by an error) cannot be
        # used again: let SQLAlchemy discard the connection.
        if isinstance(e, driver.TransactionLostError):
            return True
        sqlstate = getattr(e, "sqlstate", None) or ""
        return sqlstate.startswith(("08", "57P0"))
