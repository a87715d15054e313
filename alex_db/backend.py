"""What differs between the backends, behind one object the ``Database`` owns.

The repositories never ask which backend they run on; they ask a
:class:`Capabilities` how to do what differs: how many rows one multi-row INSERT
may carry, whether a long read must be paged to fit a response, and how to bulk
load prices. :func:`capabilities_for` is the one place that looks at the dialect, and
:func:`copy_lines` the one that talks to the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from alex_db.dataapi import limits as data_api

BulkLoad = Literal["copy", "batched_upsert"]

# Rows per page for reads that can outgrow a Data API response, by what is read:
# an instrument row is about 1 KB of response JSON (so is a position with its
# instrument), a price row about 250 bytes, and a job with every payload at its limit
# about 1 MiB (a page that does not fit is halved).
_DATA_API_PAGES = {"instruments": 500, "positions": 500, "prices": 3000, "jobs": 4}


@dataclass(frozen=True)
class Capabilities:
    name: str
    """A label for messages and benchmarks ("postgresql", "data-api")."""
    bulk_load: BulkLoad
    """"copy": COPY into a staging table and merge; "batched_upsert": one upsert
    statement with many parameter sets (sent in as few requests as the limits allow)."""
    rows_per_insert: Callable[[int], int]
    """Rows one multi-row INSERT may carry, given its number of bound columns."""
    page_rows: Callable[[str], int | None]
    """Rows per page for a long read of the given kind, or None to read it in one go."""
    max_sql_length: int | None
    max_response_bytes: int | None


def _postgres_rows_per_insert(columns: int) -> int:
    # Keeps a statement's parameters well under PostgreSQL's 65,535 per statement.
    return max(1, min(1000, 65_535 // columns))


POSTGRES = Capabilities(
    name="postgresql",
    bulk_load="copy",
    rows_per_insert=_postgres_rows_per_insert,
    page_rows=lambda kind: None,
    max_sql_length=None,
    max_response_bytes=None,
)

DATA_API = Capabilities(
    name="data-api",
    bulk_load="batched_upsert",
    rows_per_insert=data_api.rows_per_insert,
    page_rows=_DATA_API_PAGES.__getitem__,
    max_sql_length=data_api.MAX_SQL_LENGTH,
    max_response_bytes=data_api.MAX_RESPONSE_BYTES,
)


# PostgreSQL through another driver (COPY needs psycopg's copy API).
POSTGRES_WITHOUT_COPY = replace(POSTGRES, bulk_load="batched_upsert")


def capabilities_for(dialect: Dialect) -> Capabilities:
    if dialect.driver == "alexdataapi":
        return DATA_API
    if dialect.driver == "psycopg":
        return POSTGRES
    return POSTGRES_WITHOUT_COPY


# --- COPY (where ``bulk_load`` is "copy") -----------------------------------------------

NULL = "\\N"  # NULL in COPY's text format
COPY_BLOCK_LINES = 2_000  # about 70 KB of text per write


def copy_lines(
    connection: Connection, table: str, columns: Sequence[str], lines: Iterable[str]
) -> None:
    """COPY rows into ``table`` in COPY's text format: each line the ``columns``'
    values, tab-separated, NULL as :data:`NULL`, ending in a newline. The lines are
    written in blocks as they come. A driver error is raised as SQLAlchemy raises them
    for any statement (``DBAPIError``), so the repositories translate it as usual; an
    exception from ``lines`` aborts the COPY and is raised as it is."""
    driver = connection.connection.driver_connection
    assert driver is not None
    sql = f'COPY "{table}" ({", ".join(columns)}) FROM STDIN'
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            block: list[str] = []
            for line in lines:
                block.append(line)
                if len(block) == COPY_BLOCK_LINES:
                    copy.write("".join(block))
                    block = []
            copy.write("".join(block))
    except dbapi_error as exc:
        invalidated = connection.dialect.is_disconnect(exc, driver, None)
        raise DBAPIError.instance(
            sql, None, exc, dbapi_error, connection_invalidated=invalidated
        ) from exc
