"""Engine construction for the configured backend. Nothing here runs at import."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

from alex_db.config import Settings
from alex_db.errors import ConfigurationError

# The drivers alex_db runs on: psycopg 3 directly, and its own Data API dialect.
SUPPORTED_DRIVERS = ("postgresql+psycopg", "postgresql+alexdataapi")


def normalise_url(url: str | URL) -> URL:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use the psycopg 3 driver.
    Anything else (another database, a URL that does not parse) is a
    ``ConfigurationError`` before any driver is imported."""
    try:
        parsed = (
            make_url(url.replace("postgres://", "postgresql://", 1))
            if isinstance(url, str)
            else url
        )
    except ArgumentError:
        raise ConfigurationError(
            "the database URL does not parse; expected postgresql://user:password@host:port/name"
        ) from None
    if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigurationError(
            f"alex_db runs on PostgreSQL through psycopg 3: the database URL must start "
            f"with postgresql:// (got {parsed.drivername}://)"
        )
    return parsed


def resolve_url(settings: Settings) -> URL:
    """The URL the settings select (starting the embedded server if that is the choice)."""
    backend = settings.backend()
    if backend == "postgres":
        assert settings.database_url is not None
        return normalise_url(settings.database_url)
    if backend == "dataapi":
        from alex_db.dataapi import data_api_url

        return data_api_url(settings)
    from alex_db.embedded import embedded_url

    return embedded_url(settings.home)


def make_engine(url: str | URL, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` with alex_db's options for its backend."""
    settings = settings or Settings()
    parsed = normalise_url(url)
    if parsed.get_driver_name() == "alexdataapi":
        from alex_db.dataapi import make_data_api_engine

        return make_data_api_engine(parsed, settings, **kwargs)
    kwargs.setdefault("echo", settings.echo_sql)
    # An unresponsive host is an error after the timeout, not a hang (libpq counts whole
    # seconds, at least 2).
    connect_args = {
        "connect_timeout": max(2, math.ceil(settings.connect_timeout_s)),
        **kwargs.pop("connect_args", {}),
    }
    connect_args["options"] = session_options(
        connect_args.get("options", parsed.query.get("options"))
    )
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)
    event.listen(engine, "first_connect", _read_schema_revisions(engine))
    return engine


# Every session runs in UTC, as it does on the Data API: timestamps come back as UTC
# datetimes (the schemas promise UTC) and CURRENT_DATE, the default as-of date of a
# position, is the UTC date, whatever TimeZone the server or database is set to. (With
# the server's own zone psycopg also converted every timestamp through zoneinfo: at
# 1,000 positions a portfolio's fetch took about a tenth longer.)
UTC_SESSION = "-c TimeZone=UTC"


def session_options(given: str | Sequence[str] | None) -> str:
    """The libpq ``options`` for a session: UTC, then any the caller gave (a later
    ``-c`` wins, so a caller who names another TimeZone gets it)."""
    parts = [given] if isinstance(given, str) else list(given or ())
    return " ".join([UTC_SESSION, *(p for p in parts if p.strip())])


_REVISIONS_SQL = "SELECT string_agg(version_num, ',') FROM alembic_version"


def _read_schema_revisions(engine: Engine) -> Any:
    """A first-connect hook that reads the schema's Alembic revisions with the rest of
    the engine's first connection (as the Data API dialect does in its bootstrap call),
    for :meth:`alex_db.Database.check_schema`."""

    def read(dbapi_connection: Any, _record: Any) -> None:
        import psycopg

        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(_REVISIONS_SQL)
                row = cursor.fetchone()
            revisions = tuple(row[0].split(",")) if row and row[0] else ()
            engine.dialect.schema_revisions = revisions  # type: ignore[attr-defined]
        except psycopg.errors.UndefinedTable:
            engine.dialect.schema_revisions = None  # type: ignore[attr-defined]
        except psycopg.Error:
            pass  # left unknown: the Database asks again when it checks
        finally:
            dbapi_connection.rollback()

    return read
