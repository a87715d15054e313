"""The Alex services' data paths, as their code makes the calls, against alex_db.compat
only (the service code paths of docs/migrating-from-src.md, on both backends). Each
test is one service: the calls, the arguments and what the service does with the
results (subscripts, .get(), float(), json.dumps, truth tests) are the services' own."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from alex_db import Database as CoreDatabase
from alex_db.compat import AccountCreate, Database, InstrumentCreate, PositionCreate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def db(alex_db: CoreDatabase) -> Database:
    """What a service's ``db = Database()`` gives, over the test's database."""
    return Database.wrap(alex_db)


def classified(symbol: str, price: Any = None, **overrides: Any) -> InstrumentCreate:
    fields: dict[str, Any] = {
        "symbol": symbol,
        "name": f"{symbol} fund",
        "instrument_type": "etf",
        "current_price": price,
        "allocation_regions": {"north_america": 60, "europe": 40},
        "allocation_sectors": {"technology": 50, "healthcare": 50},
        "allocation_asset_class": {"equity": 100},
    }
    fields.update(overrides)
    return InstrumentCreate(**fields)


def api_user_and_portfolio(db: Database) -> tuple[str, str]:
    """The backend API: sign-in creates the user, then an account with two positions."""
    clerk_user_id = "user_2api"
    if not db.users.find_by_clerk_id(clerk_user_id):
        created = db.users.db.insert(
            "users",
            {
                "clerk_user_id": clerk_user_id,
                "display_name": "Ann",
                "years_until_retirement": 20,
                "target_retirement_income": 60000,
                "asset_class_targets": {"equity": 70, "fixed_income": 30},
                "region_targets": {"north_america": 50, "international": 50},
            },
            returning="clerk_user_id",
        )
        assert created == clerk_user_id
    body = AccountCreate(account_name="401k", account_purpose="retirement", cash_balance="5000")
    account_id = db.accounts.create_account(clerk_user_id, **body.model_dump())
    for symbol, quantity in (("SPY", Decimal("10.5")), ("BND", Decimal("20"))):
        position = PositionCreate(account_id=account_id, symbol=symbol, quantity=quantity)
        if not db.instruments.find_by_symbol(position.symbol):
            db.instruments.create_instrument(classified(position.symbol, Decimal("100.00")))
        db.positions.add_position(position.account_id, position.symbol, position.quantity)
    return clerk_user_id, account_id


def test_the_backend_api(db: Database) -> None:
    clerk_user_id, account_id = api_user_and_portfolio(db)
    user = db.users.find_by_clerk_id(clerk_user_id)
    assert user is not None
    # PUT /api/user with UserUpdate.model_dump(exclude_unset=True)
    db.users.db.update(
        "users",
        {"display_name": "Ann B", "target_retirement_income": 75000.5},
        "clerk_user_id = :clerk_user_id",
        {"clerk_user_id": clerk_user_id},
    )
    user = db.users.find_by_clerk_id(clerk_user_id)
    assert user is not None
    assert (user["display_name"], user["target_retirement_income"]) == ("Ann B", "75000.50")
    # GET /api/accounts and /api/accounts/{id}/positions, each enriched with its instrument
    accounts = db.accounts.find_by_user(clerk_user_id)
    assert accounts[0]["id"] == account_id
    assert accounts[0].get("clerk_user_id") == clerk_user_id  # the ownership check
    positions = db.positions.find_by_account(account_id)
    for position in positions:
        position["instrument"] = db.instruments.find_by_symbol(position["symbol"])
    assert [p["symbol"] for p in positions] == ["BND", "SPY"]
    assert positions[1]["instrument"]["current_price"] == "100.0000"  # stored, not dropped
    json.dumps({"user": user, "accounts": accounts, "positions": positions})  # FastAPI's work
    # GET /api/instruments
    listing = [
        {
            "symbol": i["symbol"],
            "name": i["name"],
            "instrument_type": i["instrument_type"],
            "current_price": float(i["current_price"]) if i["current_price"] else None,
        }
        for i in db.instruments.find_all()
    ]
    assert listing[0] == {
        "symbol": "BND",
        "name": "BND fund",
        "instrument_type": "etf",
        "current_price": 100.0,
    }
    # PUT /api/positions/{id} and an empty PUT body (a 500 with the old package)
    position_id = positions[0]["id"]
    assert db.positions.update(position_id, {"quantity": 25.0}) == 1
    assert db.accounts.update(account_id, {}) == 1
    # POST /api/analyze
    job_id = db.jobs.create_job(
        clerk_user_id,
        "portfolio_analysis",
        request_payload={"analysis_type": "full", "options": {}},
    )
    job = db.jobs.find_by_id(job_id)
    assert job is not None
    json.dumps({"job_id": str(job_id), "clerk_user_id": clerk_user_id})
    jobs = db.jobs.find_by_user(clerk_user_id, limit=100)
    jobs.sort(key=lambda j: j["created_at"], reverse=True)
    assert jobs[0]["id"] == job_id
    # DELETE /api/accounts/{id}: its positions first, then the account
    for position in db.positions.find_by_account(account_id):
        db.positions.delete(position["id"])
    db.accounts.delete(account_id)
    assert db.accounts.find_by_user(clerk_user_id) == []


def test_the_planner(db: Database) -> None:
    clerk_user_id, _account_id = api_user_and_portfolio(db)
    job_id = db.jobs.create_job(clerk_user_id, "portfolio_analysis", {"analysis_type": "full"})
    # market.py: one update per symbol, the int count as the success flag
    for symbol, price in {"SPY": 512.3456789, "BND": 72.1}.items():
        success = db.client.update(
            "instruments", {"current_price": price}, "symbol = :symbol", {"symbol": symbol}
        )
        assert success
    assert not db.client.update(
        "instruments", {"current_price": 1.0}, "symbol = :symbol", {"symbol": "ZZZ"}
    )
    spy = db.instruments.find_by_symbol("SPY")
    assert spy is not None
    assert spy["current_price"] == "512.3457"  # rounded as the column rounds
    # the orchestrator: running, a rate-limited failure, tenacity's retry, completed
    db.jobs.update_status(job_id, "running")
    user = db.users.find_by_clerk_id(clerk_user_id)
    assert user is not None
    income = float(user.get("target_retirement_income", 80000))
    holdings = {
        p["symbol"]: float(p["quantity"]) * float(p["current_price"])
        for account in db.accounts.find_by_user(clerk_user_id)
        for p in db.positions.find_by_account(account["id"])
    }
    assert (income, round(holdings["SPY"], 2)) == (60000.0, 5379.63)
    db.jobs.update_status(job_id, "failed", error_message="RateLimitError")
    db.jobs.update_status(job_id, "running")
    db.jobs.update_status(job_id, "completed")
    job = db.jobs.find_by_id(job_id)
    assert job is not None
    assert job["status"] == "completed"
    assert job["completed_at"] is not None


@pytest.mark.parametrize(
    ("agent", "method", "payload"),
    [
        ("reporter", "update_report", {"content": "# Report", "agent": "reporter"}),
        ("charter", "update_charts", {"allocation": {"type": "pie", "data": [1, 2]}}),
        ("retirement", "update_retirement", {"analysis": "on track", "agent": "retirement"}),
    ],
)
def test_the_agents_save_their_payloads_and_report_success(
    db: Database, agent: str, method: str, payload: dict[str, Any]
) -> None:
    clerk_user_id, _ = api_user_and_portfolio(db)
    job_id = db.jobs.create_job(clerk_user_id, "portfolio_analysis", {"analysis_type": "full"})
    job = db.jobs.find_by_id(job_id)
    assert job is not None
    portfolio = (job.get("request_payload") or {}).get("portfolio_data", {})
    assert portfolio == {}
    success = getattr(db.jobs, method)(job_id, payload)
    reply = {"statusCode": 200 if success else 500, "success": success}
    assert json.loads(json.dumps(reply)) == {"statusCode": 200, "success": 1}
    if agent == "charter":
        assert bool(success) is True  # charts_saved
    stored = db.jobs.find_by_id(job_id)
    assert stored is not None
    assert stored[method.replace("update_", "") + "_payload"] == payload
    assert not getattr(db.jobs, method)("00000000-0000-0000-0000-000000000000", payload)


def test_the_tagger(db: Database) -> None:
    # a new symbol: create_instrument with the computed price (stored, rounded)
    computed = classified("VTI", price=Decimal("123.456789"))
    assert db.instruments.find_by_symbol("VTI") is None
    assert db.instruments.create_instrument(computed) == "VTI"
    vti = db.instruments.find_by_symbol("VTI")
    assert vti is not None
    assert vti["current_price"] == "123.4568"
    # an existing symbol: the full dump minus the symbol through client.update
    reclassified = classified(
        "VTI", price=Decimal("124.5"), allocation_sectors={"technology": 100}
    ).model_dump()
    del reclassified["symbol"]
    assert db.client.update("instruments", reclassified, "symbol = :symbol", {"symbol": "VTI"})
    vti = db.instruments.find_by_symbol("VTI")
    assert vti is not None
    assert (vti["current_price"], vti["allocation_sectors"]) == ("124.5000", {"technology": 100.0})
    assert all(
        vti[k] for k in ("allocation_regions", "allocation_sectors", "allocation_asset_class")
    )
