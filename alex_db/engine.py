"""Engine construction for the configured backend. Nothing here runs at import."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url
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
    return create_engine(parsed, connect_args=connect_args, **kwargs)
