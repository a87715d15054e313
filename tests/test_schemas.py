"""Pydantic schemas: bad input is rejected with a clear message; JSON Schemas are valid."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from alex_db import agent_schemas, schemas
from alex_db.vocabulary import (
    ACCOUNT_TYPES,
    ASSET_CLASSES,
    INSTRUMENT_TYPES,
    JOB_STATUSES,
    JOB_TYPES,
    REGIONS,
    SECTORS,
)

GOOD_INSTRUMENT: dict[str, Any] = {
    "symbol": "vti",
    "name": "Vanguard Total Stock Market ETF",
    "instrument_type": "etf",
    "current_price": "250.1234",
    "allocation_regions": {"north_america": 100},
    "allocation_sectors": {"technology": 30, "healthcare": 20, "financials": 50},
    "allocation_asset_class": {"equity": 100},
}


def errors_of(model: type[BaseModel], data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [dict(e) for e in info.value.errors()]


def test_vocabularies_are_the_documented_ones() -> None:
    assert len(REGIONS) == 9
    assert "international" in REGIONS
    assert ASSET_CLASSES == (
        "equity",
        "fixed_income",
        "real_estate",
        "commodities",
        "cash",
        "alternatives",
    )
    assert len(SECTORS) == 18
    assert SECTORS[-1] == "other"
    assert INSTRUMENT_TYPES == (
        "etf",
        "mutual_fund",
        "stock",
        "bond",
        "bond_fund",
        "commodity",
        "reit",
    )
    assert len(JOB_TYPES) == 6
    assert JOB_STATUSES == ("pending", "running", "completed", "failed")
    assert ACCOUNT_TYPES[0] == "401k"
    assert len(ACCOUNT_TYPES) == 8


def test_a_good_instrument_is_normalised() -> None:
    instrument = schemas.InstrumentCreate.model_validate(GOOD_INSTRUMENT)
    assert instrument.symbol == "VTI"
    assert instrument.current_price == Decimal("250.1234")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("allocation_regions", {"north_america": 60, "europe": 30}, "must sum to 100"),
        ("allocation_sectors", {"technology": 101}, "less than or equal to 100"),
        ("allocation_asset_class", {"equity": 110, "cash": -10}, "greater than or equal to 0"),
        ("allocation_regions", {"atlantis": 100}, "Input should be 'north_america'"),
        ("instrument_type", "crypto", "Input should be 'etf'"),
        ("current_price", "-0.01", "greater than or equal to 0"),
        ("current_price", "1.00001", "no more than 4 decimal places"),
        ("current_price", "123456789.1", "no more than 8 digits before the decimal point"),
        ("current_price", "NaN", "finite number"),
        ("symbol", "A" * 21, "at most 20 characters"),
        ("symbol", "", "at least 1 character"),
        ("symbol", "SP Y", "ASCII letters"),
        ("name", "   ", "at least 1 character"),
        ("nickname", "x", "Extra inputs are not permitted"),
    ],
)
def test_bad_instruments_are_rejected(field: str, value: object, message: str) -> None:
    errors = errors_of(schemas.InstrumentCreate, {**GOOD_INSTRUMENT, field: value})
    assert any(message in e["msg"] for e in errors), errors
    assert errors[0]["loc"][0] == field


def test_allocation_tolerance_absorbs_rounding_only() -> None:
    ok = {
        **GOOD_INSTRUMENT,
        "allocation_sectors": {"technology": 33.33, "energy": 33.33, "other": 33.33},
    }
    assert schemas.InstrumentCreate.model_validate(ok).allocation_sectors["other"] == 33.33
    off = {
        **GOOD_INSTRUMENT,
        "allocation_sectors": {"technology": 33.3, "energy": 33.3, "other": 33.2},
    }
    errors_of(schemas.InstrumentCreate, off)


def test_an_unclassified_instrument_may_have_empty_allocations() -> None:
    bare = schemas.InstrumentCreate(symbol="NEWCO", name="New Company Inc.")
    assert bare.allocation_regions == {}
    assert bare.current_price is None


def test_required_allocations_reject_empty() -> None:
    errors = errors_of(schemas.UserCreate, {"clerk_user_id": "u1", "asset_class_targets": {}})
    assert "must not be empty" in errors[0]["msg"]
    data = {**GOOD_INSTRUMENT, "allocation_regions": {}}
    errors = errors_of(agent_schemas.InstrumentClassification, data)
    assert "must not be empty" in errors[0]["msg"]


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (schemas.UserCreate, {"clerk_user_id": ""}, "at least 1 character"),
        (
            schemas.UserCreate,
            {"clerk_user_id": "u", "years_until_retirement": 101},
            "less than or equal to 100",
        ),
        (
            schemas.UserCreate,
            {"clerk_user_id": "u", "target_retirement_income": "-1"},
            "greater than or equal to 0",
        ),
        (
            schemas.UserCreate,
            {"clerk_user_id": "u", "region_targets": {"europe": 50}},
            "must sum to 100",
        ),
        (
            schemas.AccountCreate,
            {"account_name": "x", "cash_interest": "1.5"},
            "less than or equal to 1",
        ),
        (
            schemas.AccountCreate,
            {"account_name": "x", "cash_balance": "0.001"},
            "no more than 2 decimal places",
        ),
        (schemas.AccountCreate, {"account_name": ""}, "at least 1 character"),
        (
            schemas.PositionCreate,
            {"account_id": str(uuid.uuid4()), "symbol": "SPY", "quantity": "0"},
            "greater than 0",
        ),
        (
            schemas.PositionCreate,
            {"account_id": str(uuid.uuid4()), "symbol": "SPY", "quantity": "-5"},
            "greater than 0",
        ),
        (
            schemas.PositionCreate,
            {"account_id": "not-a-uuid", "symbol": "SPY", "quantity": "1"},
            "valid UUID",
        ),
        (
            schemas.PositionCreate,
            {"account_id": str(uuid.uuid4()), "symbol": "SPY", "quantity": "1.123456789"},
            "no more than 8 decimal places",
        ),
        (
            schemas.PriceHistoryCreate,
            {"symbol": "SPY", "date": "2024-02-30", "close_price": "1"},
            "valid date",
        ),
        (
            schemas.PriceHistoryCreate,
            {"symbol": "SPY", "date": "2024-02-01", "close_price": "-1"},
            "greater than or equal to 0",
        ),
        (
            schemas.PriceHistoryCreate,
            {"symbol": "SPY", "date": "2024-02-01", "close_price": "1", "volume": -1},
            "greater than or equal to 0",
        ),
        (
            schemas.JobCreate,
            {"clerk_user_id": "u", "job_type": "astrology"},
            "Input should be 'portfolio_analysis'",
        ),
        (
            schemas.JobCreate,
            {"clerk_user_id": "u", "job_type": "portfolio_analysis", "request_payload": [1]},
            "valid dictionary",
        ),
        (
            schemas.AgentLogCreate,
            {"job_id": str(uuid.uuid4()), "agent_name": "planner", "input_tokens": -1},
            "greater than or equal to 0",
        ),
        (
            schemas.AgentLogCreate,
            {"job_id": str(uuid.uuid4()), "agent_name": "x" * 101},
            "at most 100 characters",
        ),
    ],
)
def test_bad_writes_are_rejected(
    model: type[BaseModel], data: dict[str, Any], message: str
) -> None:
    errors = errors_of(model, data)
    assert any(message in e["msg"] for e in errors), errors


def test_updates_know_which_fields_were_set() -> None:
    update = schemas.UserUpdate(display_name="Ada", target_retirement_income=None)
    assert update.changes() == {"display_name": "Ada", "target_retirement_income": None}
    assert schemas.UserUpdate().changes() == {}


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (schemas.UserUpdate, {"asset_class_targets": None}),
        (schemas.InstrumentUpdate, {"name": None}),
        (schemas.AccountUpdate, {"cash_balance": None}),
        (schemas.PositionUpdate, {"quantity": None}),
        (schemas.PriceHistoryUpdate, {"close_price": None}),
    ],
)
def test_updates_refuse_null_for_not_null_columns(
    model: type[BaseModel], data: dict[str, Any]
) -> None:
    errors = errors_of(model, data)
    assert "cannot be null" in errors[0]["msg"]


def test_job_update_cannot_change_status() -> None:
    errors = errors_of(schemas.JobUpdate, {"status": "completed"})
    assert errors[0]["type"] == "extra_forbidden"


SCHEMA_MODELS: list[type[BaseModel]] = [
    schemas.UserCreate,
    schemas.UserUpdate,
    schemas.UserRead,
    schemas.InstrumentCreate,
    schemas.InstrumentUpdate,
    schemas.InstrumentRead,
    schemas.AccountCreate,
    schemas.AccountUpdate,
    schemas.AccountRead,
    schemas.PositionCreate,
    schemas.PositionUpdate,
    schemas.PositionRead,
    schemas.PriceHistoryCreate,
    schemas.PriceHistoryUpdate,
    schemas.PriceHistoryRead,
    schemas.JobCreate,
    schemas.JobUpdate,
    schemas.JobRead,
    schemas.AgentLogCreate,
    schemas.AgentLogUpdate,
    schemas.AgentLogRead,
    schemas.Portfolio,
    agent_schemas.PortfolioAnalysis,
    agent_schemas.RebalanceRecommendation,
    agent_schemas.InstrumentClassification,
]


def _all_properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = list(schema.get("properties", {}).items())
    for definition in schema.get("$defs", {}).values():
        found.extend(definition.get("properties", {}).items())
    return found


@pytest.mark.parametrize("model", SCHEMA_MODELS, ids=lambda m: m.__name__)
def test_json_schema_is_valid_and_every_field_is_described(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    Draft202012Validator.check_schema(schema)
    undescribed = [name for name, prop in _all_properties(schema) if not prop.get("description")]
    assert undescribed == [], f"{model.__name__} fields without a description: {undescribed}"


@pytest.mark.parametrize(
    "model",
    [agent_schemas.PortfolioAnalysis, agent_schemas.RebalanceRecommendation],
    ids=lambda m: m.__name__,
)
def test_agent_outputs_work_as_function_calling_tools(model: type[BaseModel]) -> None:
    tool = agent_schemas.tool_definition(model)
    assert tool["name"] == model.__name__
    assert tool["description"]
    parameters = tool["parameters"]
    assert parameters["type"] == "object"
    assert parameters["additionalProperties"] is False
    Draft202012Validator.check_schema(parameters)


def test_rebalance_recommendation_validates_an_llm_answer_against_its_own_schema() -> None:
    answer = {
        "summary": "Move 10% from equity to bonds.",
        "target_allocation": {"equity": 60, "fixed_income": 40},
        "trades": [
            {
                "account_name": "401k",
                "account_type": "401k",
                "symbol": "SPY",
                "action": "sell",
                "quantity": "10.5",
                "estimated_value": "4725.00",
                "rationale": "Reduce equity overweight.",
            }
        ],
    }
    Draft202012Validator(agent_schemas.RebalanceRecommendation.model_json_schema()).validate(answer)
    parsed = agent_schemas.RebalanceRecommendation.model_validate(answer)
    assert parsed.trades[0].symbol == "SPY"
    assert parsed.trades[0].quantity == Decimal("10.5")
    bad = {**answer, "trades": [{**answer["trades"][0], "action": "hold"}]}
    with pytest.raises(ValidationError, match="Input should be 'buy' or 'sell'"):
        agent_schemas.RebalanceRecommendation.model_validate(bad)
