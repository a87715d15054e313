"""Limits, single statements and the statement timeout (docs/data-api.md §5.1, §5.3, §4.3)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from alex_db.testing.dataapi import DataAPIEmulator, EmulatorConfig
from tests.dataapi.support import Api, error, param, raw_post, wait_for


def _count(pg: psycopg.Connection[Any], table: str) -> int:
    row = pg.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


# -- response size -------------------------------------------------------------------


def test_response_just_under_one_mib(api: Api) -> None:
    """§5.1: a result below 1 MiB is returned whole."""
    assert api.value("SELECT repeat('x', 1000000)") == {"stringValue": "x" * 1_000_000}


def test_response_over_one_mib(api: Api) -> None:
    """§5.1/§4.3: over 1 MiB the call fails with UnsupportedResultException (v2)."""
    exc = api.execute_fails("SELECT repeat('x', 600000) FROM generate_series(1, 2)")
    assert error(exc) == (
        "UnsupportedResultException",
        400,
        "The result exceeds the size limit 1 MB",
    )


def test_response_limit_is_configurable(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§5.1: the limit counts the whole response body; a v2 transaction survives the error."""
    api = Api(start_emulator(EmulatorConfig(max_response_bytes=1000)))
    assert len(api.execute("SELECT repeat('x', 900)")["records"]) == 1
    transaction_id = api.begin()
    exc = api.execute_fails("SELECT repeat('x', 1000)", transactionId=transaction_id)
    assert error(exc) == (
        "UnsupportedResultException",
        400,
        "The result exceeds the size limit 1000 bytes",
    )
    assert api.value("SELECT 1", transactionId=transaction_id) == {"longValue": 1}
    api.commit(transaction_id)


def test_response_limit_ends_v1_transaction(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§5.2 (v1): the size error ends the transaction (cloud-utils/sqlalchemy-aurora-data-api#38)."""
    api = Api(start_emulator(EmulatorConfig(max_response_bytes=1000, post_error_policy="v1")))
    transaction_id = api.begin()
    api.execute_fails("SELECT repeat('x', 1000)", transactionId=transaction_id)
    assert (
        error(api.execute_fails("SELECT 1", transactionId=transaction_id))[0]
        == "TransactionNotFoundException"
    )


def test_json_records_have_their_own_limit(
    api: Api, start_emulator: Callable[..., DataAPIEmulator]
) -> None:
    """§5.1/§3.4: formattedRecords may reach 10 MB (beyond the 1 MiB records limit), and no further."""
    response = api.execute(
        "SELECT repeat('x', 600000) AS s FROM generate_series(1, 3)", formatRecordsAs="JSON"
    )
    assert len(json.loads(response["formattedRecords"])) == 3
    small = Api(start_emulator(EmulatorConfig(max_formatted_records_bytes=100)))
    exc = small.execute_fails("SELECT repeat('x', 100) AS s", formatRecordsAs="JSON")
    assert error(exc)[:2] == ("BadRequestException", 400)


# -- request size and lengths --------------------------------------------------------------


def test_request_over_four_mib(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§5.1: the whole HTTP request is capped at 4 MiB (answered 413, unconfirmed code)."""
    sets = [[param("l", stringValue="x" * 1000)] for _ in range(4300)]  # ~4.5 MB of JSON
    exc = api.fails(
        "BatchExecuteStatement", sql=f"INSERT INTO {table} (label) VALUES (:l)", parameterSets=sets
    )
    code, status, message = error(exc)
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    size = int(message.split()[2])
    assert 4_194_304 < size < 4_800_000
    assert message == f"Request of {size} bytes exceeds the limit of 4194304 bytes"
    assert _count(pg, table) == 0
    api.call(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (label) VALUES (:l)",
        parameterSets=sets[:3800],
    )
    assert _count(pg, table) == 3800


def test_request_limit_is_configurable(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§5.1: headers count toward the request limit."""
    emulator = start_emulator(EmulatorConfig(max_request_bytes=2000))
    arns = {"resourceArn": emulator.resource_arn, "secretArn": emulator.secret_arn}
    status, _, _ = raw_post(emulator.endpoint_url, "/Execute", {**arns, "sql": "SELECT 1"})
    assert status == 200
    status, headers, body = raw_post(
        emulator.endpoint_url, "/Execute", {**arns, "sql": "SELECT '" + "x" * 1800 + "'"}
    )
    assert (status, headers["x-amzn-errortype"]) == (413, "RequestEntityTooLargeException")
    assert "limit of 2000 bytes" in body["message"]


def test_sql_length_limit(api: Api) -> None:
    """§5.1: sql may hold 65,536 characters; one more is refused by the server (botocore does not check)."""
    head = "SELECT 1 AS one -- "
    exactly = head + "x" * (65_536 - len(head))
    assert api.execute(exactly)["records"] == [[{"longValue": 1}]]
    code, status, message = error(api.execute_fails(exactly + "x"))
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value at 'sql' failed to satisfy constraint: "
        "Member must have length less than or equal to 65536"
    )


def test_sql_length_limit_is_configurable(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§5.1: the SQL length limit is configurable and counts characters, not bytes."""
    api = Api(start_emulator(EmulatorConfig(max_sql_length=20)))
    assert api.value("SELECT '" + "é" * 11 + "'") == {
        "stringValue": "é" * 11
    }  # 20 characters, 31 bytes
    assert "less than or equal to 20" in error(api.execute_fails("SELECT '" + "é" * 12 + "'"))[2]


@pytest.mark.parametrize(
    ("member", "value", "limit"),
    [("database", "d" * 65, 64), ("transactionId", "t" * 193, 192), ("schema", "s" * 65, 64)],
)
def test_member_length_limits(api: Api, member: str, value: str, limit: int) -> None:
    """§5.1: database and schema are at most 64 characters, transactionId 192."""
    code, status, message = error(api.execute_fails("SELECT 1", **{member: value}))
    assert (code, status) == ("ValidationException", 400)
    assert f"Value '{value}' at '{member}' failed to satisfy constraint" in message
    assert f"length less than or equal to {limit}" in message


def test_schema_member_is_rejected(api: Api) -> None:
    """§1.1/§4.3: v2 rejects the schema member on every operation that has it."""
    expected = ("ValidationException", 400, "The schema parameter isn't supported")
    assert error(api.execute_fails("SELECT 1", schema="public")) == expected
    assert (
        error(
            api.fails("BatchExecuteStatement", sql="SELECT 1", parameterSets=[[]], schema="public")
        )
        == expected
    )
    assert error(api.fails("BeginTransaction", schema="public")) == expected


def test_many_parameters_in_one_call(api: Api) -> None:
    """§5.1: no documented limit on parameters per call; 5,000 bind fine."""
    names = [f"p{i}" for i in range(5000)]
    sql = "SELECT array_length(ARRAY[" + ", ".join(f":{n}" for n in names) + "], 1)"
    assert api.value(sql, [param(n, longValue=1) for n in names]) == {"longValue": 5000}


# -- one statement per call --------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "SELECT 1;SELECT 2;",
        "SET search_path = public; SELECT 1",
        "SELECT 1; -- comment\nSELECT 2",
        "SELECT 1; /* c */ SELECT 2",
        "SELECT 'a;b'; SELECT 2",
        "SELECT 1; ;SELECT 2",
    ],
)
def test_multiple_statements_are_rejected(api: Api, sql: str) -> None:
    """§5.1/§4.3: v2 runs exactly one statement per call."""
    assert error(api.execute_fails(sql)) == (
        "ValidationException",
        400,
        "Multistatements aren't supported.",
    )


def test_multiple_statements_rejected_in_batches(api: Api) -> None:
    """§5.1: BatchExecuteStatement too."""
    exc = api.fails("BatchExecuteStatement", sql="SELECT 1; SELECT 2", parameterSets=[[]])
    assert error(exc) == ("ValidationException", 400, "Multistatements aren't supported.")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1;", {"longValue": 1}),
        ("SELECT 1 ; ;", {"longValue": 1}),
        ("SELECT 1; -- trailing comment", {"longValue": 1}),
        ("SELECT 1; /* trailing */\n", {"longValue": 1}),
        ("SELECT 'a;b'", {"stringValue": "a;b"}),
        ("SELECT 'it''s; fine'", {"stringValue": "it's; fine"}),
        ("SELECT E'\\';x'", {"stringValue": "';x"}),
        ('SELECT 1 AS "a;b"', {"longValue": 1}),
        ("SELECT $$a;b$$", {"stringValue": "a;b"}),
        ("SELECT $fn$ $$; $fn$", {"stringValue": " $$; "}),
        ("SELECT 1 -- ; SELECT 2", {"longValue": 1}),
        ("SELECT 1 /* ; /* nested ; */ ; */", {"longValue": 1}),
    ],
)
def test_one_statement_with_semicolons_inside(api: Api, sql: str, expected: dict[str, Any]) -> None:
    """§5.1: a trailing `;` is allowed, and `;` inside quotes, dollar quotes or comments is not a split."""
    assert api.value(sql) == expected


def test_function_body_with_semicolons(api: Api) -> None:
    """§5.1: a CREATE FUNCTION whose dollar-quoted body holds several statements is one statement."""
    api.execute(
        "CREATE OR REPLACE FUNCTION dataapi_twice(x bigint) RETURNS bigint LANGUAGE plpgsql AS $body$\n"
        "DECLARE y bigint;\nBEGIN\n  y := x * 2;\n  RETURN y;\nEND;\n$body$;"
    )
    assert api.value("SELECT dataapi_twice(:x)", [param("x", longValue=21)]) == {"longValue": 42}
    api.execute("DROP FUNCTION dataapi_twice(bigint)")


def test_empty_statement(api: Api) -> None:
    """§5.1: an empty statement does nothing (PgJDBC reports an update count of 0)."""
    assert api.execute("") == {"generatedFields": [], "numberOfRecordsUpdated": 0}
    assert api.execute("  -- nothing\n;") == {"generatedFields": [], "numberOfRecordsUpdated": 0}


# -- statement timeout ----------------------------------------------------------------------


@pytest.fixture
def quick(start_emulator: Callable[..., DataAPIEmulator]) -> Api:
    """An emulator whose statement timeout is half a second."""
    return Api(start_emulator(EmulatorConfig(statement_timeout=0.5)))


def _timed_out(exc: Any) -> tuple[str, int, str, int]:
    code, status, message = error(exc)
    return code, status, message, exc.response["dbConnectionId"]


def test_statement_timeout_cancels(quick: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§5.3: past the timeout the statement is cancelled; nothing is inserted."""
    started = time.monotonic()
    exc = quick.execute_fails(f"INSERT INTO {table} (qty) SELECT 1 FROM pg_sleep(1.5)")
    elapsed = time.monotonic() - started
    code, status, message, connection_id = _timed_out(exc)
    assert (code, status) == ("StatementTimeoutException", 400)
    assert message == "The statement didn't finish within 0.5 seconds and was cancelled"
    assert connection_id > 0  # the PostgreSQL backend pid
    assert isinstance(exc, quick.client.exceptions.StatementTimeoutException)
    assert 0.5 <= elapsed < 1.4
    time.sleep(1.2)
    assert _count(pg, table) == 0


def test_continue_after_timeout_keeps_running(
    quick: Api, table: str, pg: psycopg.Connection[Any]
) -> None:
    """§5.3: with continueAfterTimeout the caller gets the error but the statement completes."""
    started = time.monotonic()
    exc = quick.execute_fails(
        f"INSERT INTO {table} (qty) SELECT 1 FROM pg_sleep(1)", continueAfterTimeout=True
    )
    assert time.monotonic() - started < 0.9
    code, _, message, _ = _timed_out(exc)
    assert code == "StatementTimeoutException"
    assert (
        message
        == "The statement didn't finish within 0.5 seconds and keeps running (continueAfterTimeout)"
    )
    assert _count(pg, table) == 0
    wait_for(lambda: _count(pg, table) == 1, timeout=5, what="the insert to finish")


def test_continue_after_timeout_ddl(quick: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§5.3: the recommended use, DDL that outlives the call, still takes effect."""
    quick.execute_fails(
        f"CREATE TABLE {table}_slow AS SELECT pg_sleep(0.8)::text AS s", continueAfterTimeout=True
    )
    wait_for(
        lambda: pg.execute("SELECT to_regclass(%s)", [f"{table}_slow"]).fetchone() != (None,),
        timeout=5,
        what="the table",
    )
    pg.execute(f"DROP TABLE {table}_slow")


def test_timeout_in_a_transaction_aborts_it(quick: Api, table: str) -> None:
    """§5.3: without the flag, the next statement of the transaction fails (ADA's test)."""
    transaction_id = quick.begin()
    exc = quick.execute_fails(
        f"INSERT INTO {table} (qty) SELECT 1 FROM pg_sleep(1.5)", transactionId=transaction_id
    )
    assert error(exc)[0] == "StatementTimeoutException"
    assert error(quick.execute_fails("SELECT 1", transactionId=transaction_id))[2].endswith(
        "SQLState: 25P02"
    )
    quick.rollback(transaction_id)


def test_continue_after_timeout_in_a_transaction(
    quick: Api, table: str, pg: psycopg.Connection[Any]
) -> None:
    """§5.3: with the flag the transaction is busy until the statement ends, then sees its row (ADA's test)."""
    transaction_id = quick.begin()
    quick.execute_fails(
        f"INSERT INTO {table} (qty) SELECT 1 FROM pg_sleep(1)",
        transactionId=transaction_id,
        continueAfterTimeout=True,
    )
    busy = quick.execute_fails("SELECT 1", transactionId=transaction_id)
    assert error(busy) == ("DatabaseErrorException", 400, "Transaction is still running a query")

    def sees_row() -> bool:
        try:
            return quick.value(f"SELECT count(*) FROM {table}", transactionId=transaction_id) == {
                "longValue": 1
            }
        except quick.client.exceptions.DatabaseErrorException:
            return False

    wait_for(sees_row, timeout=5, what="the statement to finish")
    assert quick.commit(transaction_id) == {"transactionStatus": "Transaction Committed"}
    assert _count(pg, table) == 1


def test_batch_timeout(quick: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§5.3: BatchExecuteStatement is cancelled at the timeout too, and rolled back as a whole."""
    exc = quick.fails(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (qty) SELECT :q FROM pg_sleep(0.3)",
        parameterSets=[[param("q", longValue=i)] for i in range(5)],
    )
    assert error(exc)[0] == "StatementTimeoutException"
    time.sleep(0.3)
    assert _count(pg, table) == 0
