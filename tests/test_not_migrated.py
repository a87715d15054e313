"""The library says "run alex-db migrate" when the schema is missing or not at head
(it used to fail with 'relation "users" does not exist'), on both backends; the check
runs once per engine and costs the Data API no call of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import URL, create_engine, text
from sqlalchemy.pool import NullPool

from alex_db import Database, NotMigratedError, migrations
from alex_db.config import Settings
from alex_db.dataapi import data_api_url, make_data_api_engine
from alex_db.schemas import UserCreate
from alex_db.testing.calls import count_data_api_calls
from alex_db.testing.dataapi import DataAPIEmulator
from alex_db.testing.postgres import PostgresServer, scratch_database


def run(url: URL, statement: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def migrate(url: URL, revision: str = "head") -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn, revision)
    finally:
        engine.dispose()


class Target:
    """A scratch database, and a way to reach it through one backend."""

    def __init__(self, url: URL, emulator: DataAPIEmulator | None) -> None:
        self.url = url
        self.emulator = emulator
        self.client: Any = emulator.client() if emulator else None
        self._made: list[Database] = []

    def database(self) -> Database:
        if self.emulator is None:
            db = Database.from_url(self.url)
        else:
            settings = Settings(
                AURORA_CLUSTER_ARN=self.emulator.resource_arn,
                AURORA_SECRET_ARN=self.emulator.secret_arn,
                AURORA_DATABASE=self.url.database,
                AWS_REGION="us-east-1",
            )
            engine = make_data_api_engine(data_api_url(settings), settings, client=self.client)
            db = Database.from_engine(engine, settings)
        self._made.append(db)
        return db

    def dispose(self) -> None:
        for db in self._made:
            db.engine.dispose()


@pytest.fixture(params=["postgres", "dataapi"])
def target(request: pytest.FixtureRequest, alex_db_server: PostgresServer) -> Iterator[Target]:
    with scratch_database(alex_db_server.url, prefix="alex_unmigrated") as url:
        if request.param == "postgres":
            found = Target(url, None)
            yield found
            found.dispose()
        else:
            with DataAPIEmulator(url) as emulator:
                found = Target(url, emulator)
                yield found
                found.dispose()


def test_an_empty_database_says_to_migrate(target: Target) -> None:
    db = target.database()
    with pytest.raises(NotMigratedError, match=r"not migrated .* run `alex-db migrate`") as raised:
        db.users.find_by_clerk_id("anyone")
    assert (raised.value.found, raised.value.head) == (None, migrations.head_revision())
    with pytest.raises(NotMigratedError), db.transaction():
        pass
    migrate(target.url)  # the same Database works once the schema is there
    assert db.users.find_by_clerk_id("anyone") is None


def test_a_database_behind_head_says_to_migrate(target: Target) -> None:
    """Migrated, then downgraded to base: alembic_version is there and empty (the only
    state behind head while the migrations have one revision)."""
    migrate(target.url)
    engine = create_engine(target.url, poolclass=NullPool)
    with engine.begin() as conn:
        migrations.downgrade(conn, "base")
    engine.dispose()
    db = target.database()
    with pytest.raises(NotMigratedError) as raised:
        db.users.create_user(UserCreate(clerk_user_id="too_early"))
    assert str(raised.value) == (
        f"the database is at revision (none), the latest is {migrations.head_revision()}: "
        "run `alex-db migrate`"
    )
    assert raised.value.found == ()


def test_a_database_from_a_newer_alex_db_is_refused(target: Target) -> None:
    migrate(target.url)
    run(target.url, "UPDATE alembic_version SET version_num = 'f00dfeed0001'")
    with pytest.raises(NotMigratedError, match="do not know"):
        target.database().users.find_by_clerk_id("anyone")


def test_the_check_costs_the_data_api_no_call_and_postgres_no_statement(target: Target) -> None:
    migrate(target.url)
    db = target.database()
    if target.client is not None:
        with count_data_api_calls(target.client) as calls:
            db.users.find_by_clerk_id("anyone")
            db.users.find_by_clerk_id("anyone")
        # the bootstrap call (which read the revision too), then one call per read
        assert calls.operations == ["ExecuteStatement"] * 3
    else:
        seen: list[str] = []
        from sqlalchemy import event

        event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        db.users.find_by_clerk_id("anyone")
        db.users.find_by_clerk_id("anyone")
        assert len(seen) == 2
        assert all("alembic_version" not in s for s in seen)
