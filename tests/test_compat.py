"""alex_db.compat: every call of the old ``src`` package, its result shapes and value
types as ../docs/migrating-from-src.md documents them, on both backends. Written only
against ``alex_db.compat`` (the fixture wraps the test's alex_db Database, so each test
rolls back)."""

from __future__ import annotations

import json
import re
import uuid
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alex_db import Database as CoreDatabase
from alex_db import compat
from alex_db.cli import app
from alex_db.compat import Database, InstrumentCreate
from alex_db.compat.check import check_paths
from alex_db.compat.deprecation import forget_call_sites
from alex_db.errors import (
    AlexDBError,
    AlreadyExistsError,
    ConstraintViolationError,
    InvalidInputError,
    InvalidReferenceError,
)
from alex_db.schemas import UserCreate
from alex_db.testing.plugin import Backend

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?$")

USER_KEYS = [
    "clerk_user_id",
    "display_name",
    "years_until_retirement",
    "target_retirement_income",
    "asset_class_targets",
    "region_targets",
    "created_at",
    "updated_at",
]
ACCOUNT_KEYS = [
    "id",
    "clerk_user_id",
    "account_name",
    "account_purpose",
    "cash_balance",
    "cash_interest",
    "created_at",
    "updated_at",
]
POSITION_KEYS = [
    "id",
    "account_id",
    "symbol",
    "quantity",
    "as_of_date",
    "created_at",
    "updated_at",
]
JOB_KEYS = [
    "id",
    "clerk_user_id",
    "job_type",
    "status",
    "request_payload",
    "report_payload",
    "charts_payload",
    "retirement_payload",
    "summary_payload",
    "error_message",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
]


@pytest.fixture
def legacy(db: CoreDatabase) -> Database:
    return Database.wrap(db)


def spy(**overrides: Any) -> InstrumentCreate:
    fields: dict[str, Any] = {
        "symbol": "SPY",
        "name": "SPDR S&P 500 ETF",
        "instrument_type": "etf",
        "current_price": Decimal("450.25"),
        "allocation_regions": {"north_america": 100},
        "allocation_sectors": {"technology": 30, "financials": 70},
        "allocation_asset_class": {"equity": 100},
    }
    fields.update(overrides)
    return InstrumentCreate(**fields)


def assert_json_plain(row: object) -> None:
    """A legacy row serialises with plain json.dumps: no Decimal, UUID or datetime."""
    json.dumps(row)


# --- the import surface ------------------------------------------------------------------


def test_the_old_names_are_all_there() -> None:
    assert sorted(compat.__all__) == sorted(
        [
            "Database",
            "DataAPIClient",
            "InstrumentCreate",
            "UserCreate",
            "AccountCreate",
            "PositionCreate",
            "JobCreate",
            "JobUpdate",
            "InstrumentResponse",
            "PortfolioAnalysis",
            "RebalanceRecommendation",
            "RegionType",
            "AssetClassType",
            "SectorType",
            "InstrumentType",
            "JobType",
            "JobStatus",
            "AccountType",
        ]
    )
    for name in compat.__all__:
        assert getattr(compat, name) is not None
    assert compat.schemas.UserCreate is compat.UserCreate
    assert compat.models.Database is Database
    assert compat.client.DataAPIClient is compat.DataAPIClient
    for name in ("Users", "Instruments", "Accounts", "Positions", "Jobs", "BaseModel"):
        assert hasattr(compat.models, name)


def test_old_schemas_ignore_unknown_fields_and_keep_their_rules() -> None:
    assert "foo" not in compat.AccountCreate(account_name="a", foo=1).model_dump()  # type: ignore[call-arg]
    compat.InstrumentCreate(**{**spy().model_dump(), "allocation_asset_class": {"equity": 100.05}})
    with pytest.raises(ValueError, match="sum to 100"):
        spy(allocation_asset_class={"equity": 100.051})
    with pytest.raises(ValueError, match="empty"):
        spy(allocation_regions={})
    with pytest.raises(ValueError, match="sum to 100"):
        spy(allocation_regions={"europe": float("nan")})  # the old rule let NaN through
    assert compat.UserCreate(clerk_user_id="u").asset_class_targets == {
        "equity": 70,
        "fixed_income": 30,
    }
    job_update = compat.JobUpdate(status="failed", result_payload={"x": 1})
    assert job_update.result_payload == {"x": 1}
    compat.PositionCreate(account_id="a", symbol="SPY", quantity=Decimal("1.00000001"))
    with pytest.raises(ValueError, match="decimal places"):
        compat.AccountCreate(account_name="a", cash_balance=Decimal("1.005"))


# --- configuration ----------------------------------------------------------------------


def test_nothing_configured_is_a_value_error_not_a_local_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("DATABASE_URL", "AURORA_CLUSTER_ARN", "AURORA_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="AURORA_CLUSTER_ARN and AURORA_SECRET_ARN"):
        Database()
    monkeypatch.setenv("AURORA_CLUSTER_ARN", "arn:aws:rds:us-east-1:1:cluster:c")
    with pytest.raises(ValueError, match=r"AURORA_SECRET_ARN .* is not set"):
        compat.DataAPIClient()


def test_the_old_arguments_and_variables_choose_the_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DEFAULT_AWS_REGION", "eu-west-2")
    monkeypatch.setenv("AURORA_DATABASE", "planner")
    db = Database(
        "arn:aws:rds:eu-west-2:1:cluster:c", "arn:aws:secretsmanager:eu-west-2:1:secret:s"
    )
    assert db.core.settings.backend() == "dataapi"
    assert (db.client.database, db.client.region) == ("planner", "eu-west-2")
    assert db.core.settings.aws_region == "eu-west-2"
    assert Database(region="ap-south-1", cluster_arn="c", secret_arn="s").client.region == (
        "ap-south-1"  # the old package ignored the argument
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/x")
    assert Database().core.settings.backend() == "postgres"
    # explicit ARNs win over DATABASE_URL
    assert Database(cluster_arn="c", secret_arn="s").core.settings.backend() == "dataapi"


def test_the_old_variables_reach_the_database_on_both_backends(
    alex_db_backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``Database()`` configured only by the environment, as the services build it."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "AURORA_CLUSTER_ARN", "AURORA_SECRET_ARN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    settings = alex_db_backend.settings
    if alex_db_backend.name == "postgres":
        assert settings.database_url is not None
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    else:
        assert settings.aurora_cluster_arn
        assert settings.aurora_secret_arn
        monkeypatch.setenv("AURORA_CLUSTER_ARN", settings.aurora_cluster_arn)
        monkeypatch.setenv("AURORA_SECRET_ARN", settings.aurora_secret_arn)
        monkeypatch.setenv("AURORA_DATABASE", settings.aurora_database)
        monkeypatch.setenv("DEFAULT_AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL_RDS_DATA", str(settings.data_api_endpoint_url))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    db = Database()
    try:
        assert db.core.settings.backend() == alex_db_backend.name
        assert db.client.query("SELECT count(*) AS n FROM instruments WHERE false") == [{"n": 0}]
    finally:
        db.core.dispose()


# --- db.users ---------------------------------------------------------------------------


def test_users(legacy: Database) -> None:
    assert legacy.users.create_user("u1", "Ann", 20, 60000) == "u1"
    assert legacy.users.create_user("u2", target_retirement_income=1234.567) == "u2"
    row = legacy.users.find_by_clerk_id("u1")
    assert row is not None
    assert list(row) == USER_KEYS
    assert row["target_retirement_income"] == "60000.00"
    assert row["asset_class_targets"] == {"equity": 70, "fixed_income": 30}
    assert TIMESTAMP_TEXT.match(row["created_at"])
    assert_json_plain(row)
    two = legacy.users.find_by_clerk_id("u2")
    assert two is not None
    assert two["target_retirement_income"] == "1234.57"  # rounded as PostgreSQL rounds
    assert legacy.users.find_by_clerk_id("nobody") is None
    with pytest.raises(AlreadyExistsError):
        legacy.users.create_user("u1")
    # the generic calls key on clerk_user_id (the old ones looked for an id and failed)
    assert legacy.users.find_by_id("u1") == row
    assert legacy.users.update("u1", {"display_name": "Anne"}) == 1
    assert legacy.users.update("nobody", {"display_name": "x"}) == 0
    assert legacy.users.update("u1", {}) == 1  # nothing to change: it exists
    assert legacy.users.create({"clerk_user_id": "u3"}) == "u3"
    assert [u["clerk_user_id"] for u in legacy.users.find_all()] == ["u1", "u2", "u3"]
    assert legacy.users.find_all(limit=1, offset=1)[0]["clerk_user_id"] == "u2"
    assert legacy.users.delete("u3") == 1
    assert legacy.users.delete("u3") == 0


# --- db.instruments -----------------------------------------------------------------------


def test_instruments(legacy: Database) -> None:
    assert legacy.instruments.create_instrument(spy(current_price=123.456789)) == "SPY"
    row = legacy.instruments.find_by_symbol("SPY")
    assert row is not None
    assert row["current_price"] == "123.4568"  # stored (the old call dropped it), rounded
    assert row["allocation_regions"] == {"north_america": 100.0}
    assert legacy.instruments.find_by_symbol("spy") == row  # symbols are stored upper case
    assert legacy.instruments.find_by_symbol("ſpy") is None
    assert legacy.instruments.find_by_symbol("NOPE") is None
    legacy.instruments.create_instrument(spy(symbol="QQQ", name="Invesco QQQ"))
    legacy.instruments.create_instrument(
        spy(symbol="BND", name="Vanguard Total Bond", instrument_type="bond_fund")
    )
    assert [i["symbol"] for i in legacy.instruments.find_all()] == ["BND", "QQQ", "SPY"]
    assert [i["symbol"] for i in legacy.instruments.find_all(limit=1, offset=1)] == ["QQQ"]
    assert [i["symbol"] for i in legacy.instruments.find_by_type("bond_fund")] == ["BND"]
    assert legacy.instruments.find_by_type("spaceship") == []
    assert [i["symbol"] for i in legacy.instruments.search("vanguard")] == ["BND"]
    assert len(legacy.instruments.search("")) == 3
    assert legacy.instruments.search("100%") == []  # % matches itself
    with pytest.raises(AlreadyExistsError):
        legacy.instruments.create_instrument(spy())
    assert legacy.instruments.create({"symbol": "GLD", "name": "Gold", "current_price": 1}) == "GLD"
    assert legacy.instruments.update("GLD", {"current_price": 2.00005}) == 1
    gold = legacy.instruments.find_by_id("GLD")
    assert gold is not None
    assert gold["current_price"] == "2.0001"
    assert legacy.instruments.delete("GLD") == 1


# --- db.accounts and db.positions -----------------------------------------------------------


def test_accounts_and_positions(legacy: Database) -> None:
    legacy.users.create_user("u1")
    legacy.instruments.create_instrument(spy())
    first = legacy.accounts.create_account("u1", "401k", "retirement", Decimal("1.005"), 0.00005)
    second = legacy.accounts.create_account("u1", "Brokerage", cash_balance=5000)
    assert UUID_TEXT.match(first)
    # one transaction: both were created at the same now(); make the first one older
    assert legacy.accounts.update(first, {"created_at": "2020-01-01 09:30:00.5"}) == 1
    rows = legacy.accounts.find_by_user("u1")
    assert [r["id"] for r in rows] == [second, first]  # newest first, as before
    assert rows[1]["created_at"] == "2020-01-01 09:30:00.5"
    assert list(rows[0]) == ACCOUNT_KEYS
    assert (rows[1]["cash_balance"], rows[1]["cash_interest"]) == ("1.01", "0.0001")
    assert rows[0]["cash_balance"] == "5000.00"
    assert legacy.accounts.find_by_user("nobody") == []
    with pytest.raises(InvalidReferenceError):
        legacy.accounts.create_account("nobody", "x")

    position = legacy.positions.add_position(first, "SPY", 150.123456789)
    assert legacy.positions.add_position(first, "SPY", Decimal("2")) == position  # replaced
    legacy.positions.add_position(first, "SPY", "3.5")
    (held,) = legacy.positions.find_by_account(first)
    assert list(held) == [*POSITION_KEYS, "instrument_name", "instrument_type", "current_price"]
    assert (held["id"], held["quantity"], held["current_price"]) == (
        position,
        "3.50000000",
        "450.2500",
    )
    assert re.match(r"^\d{4}-\d\d-\d\d$", held["as_of_date"])
    assert_json_plain(held)
    assert legacy.positions.get_portfolio_value(first) == {
        "num_positions": 1,
        "total_value": 1575.875,
        "total_shares": 3.5,
    }
    assert legacy.positions.get_portfolio_value(second) == {
        "num_positions": 0,
        "total_value": 0.0,
        "total_shares": 0.0,
    }
    with pytest.raises(InvalidInputError, match="quantity"):
        legacy.positions.add_position(first, "SPY", 0)  # alex_db keeps quantities positive
    with pytest.raises(InvalidReferenceError):
        legacy.positions.add_position(first, "NOPE", 1)
    found = legacy.positions.find_by_id(position)
    assert found is not None
    assert list(found) == POSITION_KEYS
    assert legacy.positions.update(position, {"quantity": 7.123456789}) == 1
    assert legacy.positions.find_by_account(first)[0]["quantity"] == "7.12345679"
    with pytest.raises(ConstraintViolationError, match="quantity_positive"):
        legacy.positions.update(position, {"quantity": 0})
    assert legacy.accounts.update(first, {"account_name": "Old 401k"}) == 1
    assert legacy.accounts.update(str(uuid.uuid4()), {"account_name": "x"}) == 0
    assert legacy.positions.delete(position) == 1
    assert legacy.positions.delete(position) == 0
    assert legacy.accounts.delete(first) == 1
    assert legacy.accounts.find_by_id(first) is None


# --- db.jobs ----------------------------------------------------------------------------


def test_jobs(legacy: Database) -> None:
    legacy.users.create_user("u1")
    job_id = legacy.jobs.create_job("u1", "portfolio_analysis", {"analysis_type": "full"})
    assert UUID_TEXT.match(job_id)
    row = legacy.jobs.find_by_id(job_id)
    assert row is not None
    assert list(row) == JOB_KEYS
    assert (row["status"], row["request_payload"], row["started_at"]) == (
        "pending",
        {"analysis_type": "full"},
        None,
    )
    assert_json_plain(row)
    assert legacy.jobs.update_report(job_id, {"content": "# Report"}) == 1
    assert legacy.jobs.update_charts(job_id, {"pie": {"data": []}}) == 1
    assert legacy.jobs.update_retirement(job_id, {"analysis": "ok"}) == 1
    assert legacy.jobs.update_summary(job_id, {"summary": "ok"}) == 1
    unknown = str(uuid.uuid4())
    assert legacy.jobs.update_report(unknown, {"content": "x"}) == 0
    assert legacy.jobs.update_status(unknown, "running") == 0
    stored = legacy.jobs.find_by_id(job_id)
    assert stored is not None
    assert stored["charts_payload"] == {"pie": {"data": []}}
    with pytest.raises(InvalidInputError):
        legacy.jobs.create_job("u1", "whatever_type")  # the database would refuse it too

    # the old permissive transitions, with the old timestamps
    assert legacy.jobs.update_status(job_id, "running") == 1
    running = legacy.jobs.find_by_id(job_id)
    assert running is not None
    assert TIMESTAMP_TEXT.match(running["started_at"])
    assert legacy.jobs.update_status(job_id, "failed", error_message="rate limited") == 1
    failed = legacy.jobs.find_by_id(job_id)
    assert failed is not None
    assert (failed["status"], failed["error_message"]) == ("failed", "rate limited")
    assert TIMESTAMP_TEXT.match(failed["completed_at"])
    assert legacy.jobs.update_status(job_id, "running") == 1  # failed -> running: the retry
    assert legacy.jobs.update_status(job_id, "completed") == 1
    done = legacy.jobs.find_by_id(job_id)
    assert done is not None
    assert (done["status"], done["error_message"]) == ("completed", "rate limited")
    with pytest.raises(InvalidInputError, match="job status"):
        legacy.jobs.update_status(job_id, "bogus")

    second = legacy.jobs.create_job("u1", "retirement_projection")
    assert legacy.jobs.update(job_id, {"created_at": "2020-01-01 00:00:00"}) == 1  # older
    assert [j["id"] for j in legacy.jobs.find_by_user("u1")] == [second, job_id]
    assert [j["id"] for j in legacy.jobs.find_by_user("u1", status="completed")] == [job_id]
    assert legacy.jobs.find_by_user("u1", status="") != []  # falsy: no filter
    assert legacy.jobs.find_by_user("u1", status="bogus") == []
    assert legacy.jobs.find_by_user("u1", limit=0) == []
    assert len(legacy.jobs.find_by_user("u1", limit=1)) == 1
    with pytest.raises(InvalidInputError, match="limit"):
        legacy.jobs.find_by_user("u1", limit=-1)
    assert {j["id"] for j in legacy.jobs.find_all()} == {second, job_id}
    assert legacy.jobs.create({"clerk_user_id": "u1", "job_type": "risk_assessment"}) != job_id
    assert legacy.jobs.update(job_id, {"summary_payload": {"a": 1}}) == 1
    assert legacy.jobs.delete(second) == 1
    assert legacy.jobs.delete(second) == 0


def test_payloads_the_old_call_refused_in_the_database_are_refused_before(
    legacy: Database,
) -> None:
    legacy.users.create_user("u1")
    job_id = legacy.jobs.create_job("u1", "portfolio_analysis")
    with pytest.raises(InvalidInputError):
        legacy.jobs.update_summary(job_id, "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="JSON"):
        legacy.jobs.update_report(job_id, {"when": Decimal(1)})
    with pytest.raises(InvalidInputError):
        legacy.jobs.update_status("not-a-uuid", "running")


# --- db.client: raw SQL with rds-data parameters -------------------------------------------


def test_client_query_and_execute(legacy: Database) -> None:
    legacy.users.create_user("u1", target_retirement_income=Decimal("5000"))
    client = legacy.client
    rows = client.query(
        "SELECT clerk_user_id, target_retirement_income, created_at::date AS day, "
        "'a:b' AS colon, 1::bigint AS n, 0.5::float8 AS f, true AS b "
        "FROM users WHERE clerk_user_id = :id",
        [{"name": "id", "value": {"stringValue": "u1"}}],
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["target_retirement_income"], row["colon"], row["n"], row["f"], row["b"]) == (
        "5000.00",
        "a:b",
        1,
        0.5,
        True,
    )
    assert isinstance(row["day"], str)
    assert client.query_one("SELECT 1 AS one WHERE false") is None
    assert client.query("SELECT :x::numeric AS x", {"x": Decimal("1.50")}) == [{"x": "1.50"}]
    hinted = client.query_one(
        "SELECT :d AS d, :u AS u",
        [
            {"name": "d", "value": {"stringValue": "2026-01-02"}, "typeHint": "DATE"},
            {"name": "u", "value": {"stringValue": str(uuid.UUID(int=1))}, "typeHint": "UUID"},
        ],
    )
    assert hinted == {"d": "2026-01-02", "u": str(uuid.UUID(int=1))}

    response = client.execute(
        "SELECT clerk_user_id, display_name FROM users WHERE clerk_user_id = :id",
        [{"name": "id", "value": {"stringValue": "u1"}}],
    )
    assert response["records"] == [[{"stringValue": "u1"}, {"isNull": True}]]
    assert [c["name"] for c in response["columnMetadata"]] == ["clerk_user_id", "display_name"]
    updated = client.execute(
        "UPDATE users SET display_name = :n WHERE clerk_user_id = :id",
        [
            {"name": "n", "value": {"stringValue": "Ann"}},
            {"name": "id", "value": {"stringValue": "u1"}},
        ],
    )
    assert updated == {"numberOfRecordsUpdated": 1}
    assert legacy.execute_raw("DELETE FROM users WHERE false") == {"numberOfRecordsUpdated": 0}
    assert legacy.query_raw("SELECT display_name FROM users") == [{"display_name": "Ann"}]


def test_client_bad_sql_and_parameters_are_typed(legacy: Database) -> None:
    client = legacy.client
    with pytest.raises(InvalidInputError, match=":missing"):
        client.query("SELECT :missing")
    with pytest.raises(InvalidInputError, match="stringValue cannot hold"):
        client.query("SELECT :x", [{"name": "x", "value": {"stringValue": 123}}])
    with pytest.raises(InvalidInputError, match="each parameter"):
        client.query("SELECT :x", [{"x": 1}])
    with pytest.raises(InvalidInputError, match="not a DATE"):
        client.query(
            "SELECT :x", [{"name": "x", "value": {"stringValue": "no"}, "typeHint": "DATE"}]
        )
    with pytest.raises(AlexDBError, match="does not exist"):
        client.query("SELECT * FROM no_such_table")
    with pytest.raises(InvalidInputError, match="unknown table"):
        client.insert("no_such_table", {"a": 1})
    with pytest.raises(InvalidInputError, match="no column"):
        client.insert("users", {"clerk_user_id": "u", "nope": 1})
    with pytest.raises(InvalidInputError, match="JSON"):
        client.insert("users", {"clerk_user_id": "u", "region_targets": "{}"})


def test_client_insert_update_delete(legacy: Database) -> None:
    client = legacy.client
    created = client.insert(
        "users",
        {
            "clerk_user_id": "api_user",
            "display_name": "Ann",
            "years_until_retirement": 20,
            "target_retirement_income": 60000,
            "asset_class_targets": {"equity": 60, "fixed_income": 40},
            "region_targets": {"north_america": 100},
        },
        returning="clerk_user_id",
    )
    assert created == "api_user"
    assert client.insert("users", {"clerk_user_id": "other"}) is None
    assert (
        client.update(
            "users",
            {"display_name": "Anne", "target_retirement_income": 1.005},
            "clerk_user_id = :clerk_user_id",
            {"clerk_user_id": "api_user"},
        )
        == 1
    )
    user = legacy.users.find_by_clerk_id("api_user")
    assert user is not None
    assert (user["display_name"], user["target_retirement_income"]) == ("Anne", "1.01")
    # a where parameter named like a data column no longer overrides the data value
    assert (
        client.update(
            "users",
            {"clerk_user_id": "renamed"},
            "clerk_user_id = :clerk_user_id",
            {"clerk_user_id": "other"},
        )
        == 1
    )
    assert legacy.users.find_by_clerk_id("renamed") is not None
    assert client.update("users", {}, "clerk_user_id = :c", {"c": "renamed"}) == 1
    assert client.update("users", {"display_name": "x"}, "clerk_user_id = :c", {"c": "zz"}) == 0
    assert client.delete("users", "clerk_user_id = :c", {"c": "renamed"}) == 1
    assert client.delete("users", "clerk_user_id = :c", {"c": "renamed"}) == 0


def test_client_transactions_contain_their_statements(legacy: Database) -> None:
    client = legacy.client
    tid = client.begin_transaction()
    client.insert("users", {"clerk_user_id": "rolled_back"})
    legacy.jobs.find_all()  # the old models join it too
    assert legacy.users.find_by_clerk_id("rolled_back") is not None  # visible inside
    client.rollback_transaction(tid)
    assert legacy.users.find_by_clerk_id("rolled_back") is None

    tid = client.begin_transaction()
    legacy.users.create_user("kept")
    inner = client.begin_transaction()  # a savepoint
    legacy.users.create_user("inner_rolled_back")
    client.rollback_transaction(inner)
    client.commit_transaction(tid)
    assert legacy.users.find_by_clerk_id("kept") is not None
    assert legacy.users.find_by_clerk_id("inner_rolled_back") is None
    with pytest.raises(InvalidInputError, match="not the innermost"):
        client.commit_transaction(tid)


def test_old_calls_join_an_alex_db_transaction(legacy: Database) -> None:
    """Old and new calls side by side, in one unit of work (the way forward)."""
    with pytest.raises(RuntimeError), legacy.core.transaction() as tx:
        legacy.users.create_user("old_call")
        tx.users.create_user(UserCreate(clerk_user_id="new_call"))
        assert legacy.client.query("SELECT count(*) AS n FROM users") == [{"n": 2}]
        raise RuntimeError
    assert legacy.users.find_by_clerk_id("old_call") is None
    assert legacy.core.users.find_by_clerk_id("new_call") is None


# --- deprecation warnings -------------------------------------------------------------------


def test_each_call_site_warns_once_with_its_replacement(legacy: Database) -> None:
    """Once per call site even under the "always" filter test runners install."""
    forget_call_sites()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            legacy.users.find_by_clerk_id("a")  # one site, three calls
        legacy.users.find_by_clerk_id("b")  # a second site
        legacy.jobs.find_by_user("a")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3
    assert "db.users.find_by_clerk_id()" in messages[0]
    assert "docs/migrating-from-src.md" in messages[0]
    assert "db.jobs.find_by_user()" in messages[2]
    assert all(w.filename == __file__ for w in caught)
    assert all(w.category is DeprecationWarning for w in caught)


# --- check-code -----------------------------------------------------------------------------

SAMPLE = Path(__file__).parent / "compat_sample"


def test_check_code_finds_every_old_call_in_the_sample_service() -> None:
    found = [(Path(f.path).name, f.line, f.old) for f in check_paths([SAMPLE / "service"])]
    assert found == [
        ("handler.py", 2, "from src import Database"),
        ("handler.py", 3, "from src.schemas import InstrumentCreate"),
        ("handler.py", 9, "db.jobs.update_status()"),
        ("handler.py", 10, "db.users.find_by_clerk_id()"),
        ("handler.py", 11, "db.client.update()"),
        ("handler.py", 12, "db.query_raw()"),
        ("handler.py", 13, "db.jobs.update_report()"),
        ("handler.py", 14, "db.users.db.insert()"),
        ("handler.py", 15, "db.accounts.find_by_id()"),
        ("helpers.py", 4, "db.positions.get_portfolio_value()"),
    ]
    assert check_paths([SAMPLE / "migrated"]) == []


def test_check_code_command(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["check-code", str(SAMPLE / "service")])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(
        "handler.py:2: from src import Database -> from alex_db import Database "
        "(schemas from alex_db.schemas)"
    )
    assert any("handler.py:9: db.jobs.update_status() -> db.jobs.start(id)" in x for x in lines)
    assert lines[-1].startswith("10 old API use(s) in 2 file(s)")
    clean = runner.invoke(app, ["check-code", str(SAMPLE / "migrated")])
    assert (clean.exit_code, clean.output.strip()) == (0, "No old API uses found.")
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    result = runner.invoke(app, ["check-code", str(broken)])
    assert result.exit_code == 1
    assert "unparsable Python" in result.output
    missing = runner.invoke(app, ["check-code", str(tmp_path / "nope")])
    assert missing.exit_code == 2


def test_every_old_call_warns_at_the_callers_line(legacy: Database) -> None:
    """Each warning points at the service's line, never inside alex_db.compat."""
    forget_call_sites()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        legacy.users.create_user("w")
        legacy.instruments.create_instrument(spy())
        account = legacy.accounts.create_account("w", "a")
        legacy.positions.add_position(account, "SPY", 1)
        job = legacy.jobs.create_job("w", "portfolio_analysis")
        calls = [
            lambda: legacy.users.find_by_clerk_id("w"),
            lambda: legacy.users.find_by_id("w"),
            lambda: legacy.users.find_all(),  # noqa: PLW0108 - a call site of its own
            lambda: legacy.users.update("w", {}),
            lambda: legacy.instruments.find_all(),  # noqa: PLW0108 - a call site of its own
            lambda: legacy.instruments.find_by_symbol("SPY"),
            lambda: legacy.instruments.find_by_type("etf"),
            lambda: legacy.instruments.search(""),
            lambda: legacy.accounts.find_by_user("w"),
            lambda: legacy.positions.find_by_account(account),
            lambda: legacy.positions.get_portfolio_value(account),
            lambda: legacy.jobs.update_status(job, "running"),
            lambda: legacy.jobs.update_report(job, {}),
            lambda: legacy.jobs.update_charts(job, {}),
            lambda: legacy.jobs.update_retirement(job, {}),
            lambda: legacy.jobs.update_summary(job, {}),
            lambda: legacy.jobs.find_by_user("w"),
            lambda: legacy.jobs.create({"clerk_user_id": "w", "job_type": "risk_assessment"}),
            lambda: legacy.client.query("SELECT 1 AS one"),
            lambda: legacy.client.query_one("SELECT 1 AS one"),
            lambda: legacy.client.execute("SELECT 1 AS one"),
            lambda: legacy.client.insert("users", {"clerk_user_id": "w2"}),
            lambda: legacy.client.update("users", {}, "true"),
            lambda: legacy.client.delete("users", "clerk_user_id = :c", {"c": "w2"}),
            lambda: legacy.execute_raw("SELECT 1"),
            lambda: legacy.query_raw("SELECT 1"),
            lambda: legacy.positions.delete(str(uuid.uuid4())),
        ]
        for call in calls:
            call()
        tid = legacy.client.begin_transaction()
        legacy.client.commit_transaction(tid)
        tid = legacy.client.begin_transaction()
        legacy.client.rollback_transaction(tid)
    assert len(caught) == 5 + len(calls) + 4
    assert {w.filename for w in caught} == {__file__}
    assert all("alex_db.compat:" in str(w.message) for w in caught)
