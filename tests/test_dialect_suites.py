"""SQLAlchemy's dialect conformance suite and Alembic's migration suite, on the
``postgresql+psycopg`` baseline and on ``postgresql+alexdataapi`` through the project's
Data API emulator.

Each suite runs in its own pytest process (SQLAlchemy's plugin takes over the session
it runs in), from ``dialect_suite/<suite>/``, against a scratch database on this run's
PostgreSQL. A suite passes when nothing fails; the figures are printed, and each run
must also pass at least as many tests as it did when this test was written (a run that
collects nothing, or skips what it used to run, is a failure too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, text
from sqlalchemy.pool import NullPool

from alex_db.testing.dataapi import DataAPIEmulator
from alex_db.testing.postgres import PostgresServer, scratch_database

SUITES = Path(__file__).resolve().parent.parent / "dialect_suite"

# Passed at least (this machine, PostgreSQL 15): SQLAlchemy 2.1, Alembic 1.x.
MINIMUM_PASSED = {
    ("sqlalchemy_suite", "psycopg"): 1750,
    ("sqlalchemy_suite", "alexdataapi"): 1700,
    ("alembic_suite", "psycopg"): 110,
    ("alembic_suite", "alexdataapi"): 110,
}

_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


@contextmanager
def _target(name: str, url: URL) -> Iterator[tuple[str, dict[str, str]]]:
    """The suite's --dburi and environment for one target."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "AURORA_"))}
    if name == "psycopg":
        yield url.render_as_string(hide_password=False), env
        return
    with DataAPIEmulator(url) as emulator:
        env.update(
            AWS_ENDPOINT_URL_RDS_DATA=emulator.endpoint_url,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION="us-east-1",
        )
        uri = URL.create(
            "postgresql+alexdataapi",
            database=url.database,
            query={
                "resource_arn": emulator.resource_arn,
                "secret_arn": emulator.secret_arn,
                "region": "us-east-1",
            },
        )
        yield uri.render_as_string(hide_password=False), env


@pytest.mark.parametrize("target", ["psycopg", "alexdataapi"])
@pytest.mark.parametrize("suite", ["sqlalchemy_suite", "alembic_suite"])
def test_the_dialect_suite_passes(suite: str, target: str, alex_db_server: PostgresServer) -> None:
    with scratch_database(alex_db_server.url, prefix="alex_dialect_suite") as url:
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:  # the schemas the suites' cross-schema tests use
            conn.execute(text("CREATE SCHEMA test_schema"))
            conn.execute(text("CREATE SCHEMA test_schema_2"))
        engine.dispose()
        with _target(target, url) as (uri, env):
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:alex_db", "--dburi", uri],
                cwd=SUITES / suite,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    counts = {kind.rstrip("s"): int(n) for n, kind in _COUNTS.findall(summary)}
    print(f"{suite} on {target}: {summary}")
    failures = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert result.returncode == 0, "\n".join(failures[:50]) or result.stdout[-5000:] + result.stderr
    assert counts.get("passed", 0) >= MINIMUM_PASSED[(suite, target)], summary
