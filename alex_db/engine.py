"""Engine construction for the configured backend. Nothing here runs at import."""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url

from alex_db.config import Settings


def normalise_url(url: str | URL) -> URL:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use the psycopg 3 driver."""
    parsed = (
        make_url(url.replace("postgres://", "postgresql://", 1)) if isinstance(url, str) else url
    )
    if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
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
    return create_engine(parsed, **kwargs)
