"""Errors: modelled shapes and statuses, known messages, SQL error text, ARNs, faults (docs/data-api.md §4, §5.4)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from alex_db.testing.dataapi import DataAPIEmulator, EmulatorConfig
from tests.dataapi.support import Api, error, make_client, param

# Contract §4.1: shape -> (HTTP status, operations that model it).
STD5 = [
    "ExecuteStatement",
    "BatchExecuteStatement",
    "BeginTransaction",
    "CommitTransaction",
    "RollbackTransaction",
]
SHAPES: dict[str, tuple[int, list[str]]] = {
    "AccessDeniedException": (403, STD5),
    "BadRequestException": (400, STD5),
    "DatabaseErrorException": (400, STD5),
    "DatabaseNotFoundException": (404, STD5),
    "DatabaseResumingException": (
        400,
        ["ExecuteStatement", "BatchExecuteStatement", "BeginTransaction"],
    ),
    "DatabaseUnavailableException": (504, STD5),
    "ForbiddenException": (403, STD5),
    "HttpEndpointNotEnabledException": (400, STD5),
    "InternalServerErrorException": (500, STD5),
    "InvalidResourceStateException": (400, STD5),
    "InvalidSecretException": (400, STD5),
    "NotFoundException": (404, ["CommitTransaction", "RollbackTransaction"]),
    "SecretsErrorException": (400, STD5),
    "ServiceUnavailableError": (503, STD5),
    "StatementTimeoutException": (400, STD5),
    "TransactionNotFoundException": (404, STD5),
    "UnsupportedResultException": (400, ["ExecuteStatement"]),
}


def _arguments(api: Api, operation: str) -> dict[str, Any]:
    if operation == "ExecuteStatement":
        return {"sql": "SELECT 1"}
    if operation == "BatchExecuteStatement":
        return {"sql": "SELECT 1", "parameterSets": [[]]}
    if operation in ("CommitTransaction", "RollbackTransaction"):
        return {"transactionId": api.begin()}
    return {}


@pytest.mark.parametrize("code", sorted(SHAPES))
def test_modelled_error_shapes(api: Api, code: str) -> None:
    """§4.1: every modelled shape arrives with its status and as the client's exception class."""
    status, operations = SHAPES[code]
    client = make_client(api.emulator.endpoint_url, max_attempts=1)  # no retries of 5xx here
    for operation in operations:
        arguments = _arguments(api, operation)
        api.emulator.fail_next(1, code)
        exc = Api(api.emulator, client).fails(operation, **arguments)
        got_code, got_status, message = error(exc)
        assert (got_code, got_status) == (code, status), operation
        assert isinstance(exc, getattr(client.exceptions, code))
        if code in (
            "DatabaseUnavailableException",
            "InternalServerErrorException",
            "ServiceUnavailableError",
        ):
            assert message == ""  # shapes without members
        else:
            assert message
        if "transactionId" in arguments:
            api.rollback(arguments["transactionId"])


def test_injected_faults_skip_operations_that_do_not_model_them(api: Api) -> None:
    """§4.1/§5.4: DatabaseResumingException is modelled for Execute, Batch and Begin, not Commit/Rollback."""
    transaction_id = api.begin()
    api.emulator.fail_next(1)
    assert api.commit(transaction_id) == {"transactionStatus": "Transaction Committed"}
    exc = api.fails("BeginTransaction")
    assert error(exc) == (
        "DatabaseResumingException",
        400,
        "The Aurora DB instance alex-local-instance-1 is resuming after being auto-paused. "
        "Please wait a few seconds and try again.",
    )


def test_fail_next_counts_down(api: Api) -> None:
    """§5.4: fail_next(n) fails exactly the next n eligible calls, and botocore does not retry a 400."""
    api.emulator.fail_next(3)
    for _ in range(3):
        assert error(api.execute_fails("SELECT 1"))[0] == "DatabaseResumingException"
    assert api.value("SELECT 1") == {"longValue": 1}
    assert api.emulator.call_counts == {"ExecuteStatement": 4}


def test_botocore_retries_server_errors(api: Api) -> None:
    """§4.2: botocore retries 5xx (here 503 then 504) and the call then succeeds."""
    client = make_client(api.emulator.endpoint_url, max_attempts=3)
    api.emulator.fail_next(1, "ServiceUnavailableError")
    assert Api(api.emulator, client).value("SELECT 1") == {"longValue": 1}
    api.emulator.fail_next(2, "DatabaseUnavailableException")
    assert Api(api.emulator, client).value("SELECT 2") == {"longValue": 2}
    assert api.emulator.call_counts == {"ExecuteStatement": 5}


def test_statement_timeout_shape_has_db_connection_id(api: Api) -> None:
    """§4.1: StatementTimeoutException carries dbConnectionId."""
    api.emulator.fail_next(1, "StatementTimeoutException")
    exc = api.execute_fails("SELECT 1")
    assert exc.response["dbConnectionId"] == 0  # type: ignore[typeddict-item]


def test_fail_next_rejects_unmodelled_codes(emulator: DataAPIEmulator) -> None:
    """§4.1: only modelled codes can be injected."""
    with pytest.raises(ValueError, match="not an error the rds-data model defines"):
        emulator.fail_next(1, "ValidationException")


def test_http_endpoint_switch(api: Api) -> None:
    """§4.3: with the Data API disabled every call fails with HttpEndpointNotEnabledException."""
    transaction_id = api.begin()
    api.emulator.http_endpoint_enabled = False
    for operation, arguments in [
        ("ExecuteStatement", {"sql": "SELECT 1"}),
        ("BeginTransaction", {}),
        ("CommitTransaction", {"transactionId": transaction_id}),
    ]:
        assert error(api.fails(operation, **arguments)) == (
            "HttpEndpointNotEnabledException",
            400,
            "HttpEndpoint is not enabled for cluster alex-local",
        )
    api.emulator.http_endpoint_enabled = True
    assert api.rollback(transaction_id) == {"transactionStatus": "Rollback Complete"}


def test_invalid_secret_switch(api: Api) -> None:
    """§4.1: InvalidSecretException when the secret isn't valid."""
    api.emulator.secret_valid = False
    code, status, message = error(api.execute_fails("SELECT 1"))
    assert (code, status) == ("InvalidSecretException", 400)
    assert api.emulator.secret_arn in message
    api.emulator.secret_valid = True
    assert api.value("SELECT 1") == {"longValue": 1}


RESOURCE = "arn:aws:rds:eu-west-1:123456789012:cluster:prod-db"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod-db-creds-Ab12Cd"


def test_configured_arns_are_enforced(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§4.3: started with an ARN pair, the emulator accepts that pair and answers others as the service does."""
    emulator = start_emulator(resource_arn=RESOURCE, secret_arn=SECRET)
    api = Api(emulator)
    assert (emulator.resource_arn, emulator.secret_arn) == (RESOURCE, SECRET)
    assert api.value("SELECT 1") == {"longValue": 1}
    other_cluster = RESOURCE.replace("prod-db", "other-db")
    exc = api.execute_fails("SELECT 1", resourceArn=other_cluster)
    assert error(exc) == (
        "HttpEndpointNotEnabledException",
        400,
        "HttpEndpoint is not enabled for cluster other-db",
    )
    other_secret = SECRET.replace("creds", "other")
    exc = api.execute_fails("SELECT 1", secretArn=other_secret)
    assert error(exc) == (
        "SecretsErrorException",
        400,
        f"Error fetching secret {other_secret} : Secrets Manager can't find the specified secret.",
    )
    transaction_id = api.begin()
    exc = api.fails("CommitTransaction", transactionId=transaction_id, resourceArn=other_cluster)
    assert error(exc)[0] == "HttpEndpointNotEnabledException"
    assert api.commit(transaction_id) == {"transactionStatus": "Transaction Committed"}


def test_any_well_formed_pair_without_configured_arns(api: Api) -> None:
    """Issue 4: started without ARNs, any well-formed cluster/secret pair is accepted."""
    assert api.value("SELECT 1", resourceArn=RESOURCE, secretArn=SECRET) == {"longValue": 1}


@pytest.mark.parametrize(
    ("arns", "code"),
    [
        (
            {"resourceArn": "arn:aws:rds:us-east-1:123456789012:db:instance-1"},
            "ValidationException",
        ),
        ({"resourceArn": "not-an-arn-at-all"}, "ValidationException"),
        (
            {"secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:nope"},
            "SecretsErrorException",
        ),
        (
            {"resourceArn": "arn:aws:rds:us-east-1:123456789012:cluster:c" + "x" * 570},
            "ValidationException",
        ),
    ],
)
def test_malformed_arns(api: Api, arns: dict[str, str], code: str) -> None:
    """§4.3/§1.1: malformed or over-long ARNs are refused."""
    assert error(api.execute_fails("SELECT 1", **arns))[:2] == (code, 400)


def test_constructor_rejects_malformed_arns(dataapi_url: Any) -> None:
    """Issue 4: the ARNs an emulator is started with must themselves be well formed."""
    with (
        pytest.raises(ValueError, match="cluster ARN"),
        DataAPIEmulator(dataapi_url, resource_arn="arn:aws:rds:x"),
    ):
        pass


def test_sql_error_with_position(api: Api) -> None:
    """§4.4: v2 layout `ERROR: <msg>; Position: n; SQLState: xxxxx` (the example of docs/data-api.md)."""
    exc = api.execute_fails("SELECT * FROM no_such_table_xyz")
    assert error(exc) == (
        "DatabaseErrorException",
        400,
        'ERROR: relation "no_such_table_xyz" does not exist; Position: 15; SQLState: 42P01',
    )


def test_sql_error_position_counts_in_the_clients_text(api: Api) -> None:
    """§4.4: Position points into the SQL as sent, placeholders included."""
    sql = "SELECT :long_parameter_name, no_such_column"
    exc = api.execute_fails(sql, [param("long_parameter_name", longValue=1)])
    assert error(exc)[2] == (
        f'ERROR: column "no_such_column" does not exist; Position: {sql.index("no_such") + 1}; SQLState: 42703'
    )


def test_sql_error_with_hint(api: Api) -> None:
    """§4.4: the 42883 example of docs/data-api.md, with Hint before Position."""
    exc = api.execute_fails("SELECT 1 WHERE 1 = 'x'::text")
    assert error(exc)[2] == (
        "ERROR: operator does not exist: integer = text; Hint: No operator matches the given name and "
        "argument types. You might need to add explicit type casts.; Position: 18; SQLState: 42883"
    )


def test_sql_errors_without_detail(api: Api, table: str) -> None:
    """§4.4: not-null (23502) and foreign-key (23503) errors as captured on v2: no Detail, no Position."""
    exc = api.execute_fails(f"INSERT INTO {table} (label) VALUES (NULL)")
    assert error(exc)[2] == (
        f'ERROR: null value in column "label" of relation "{table}" violates not-null constraint; SQLState: 23502'
    )
    api.execute(f"CREATE TABLE {table}_child (parent int REFERENCES {table} (id))")
    try:
        exc = api.execute_fails(f"INSERT INTO {table}_child VALUES (42)")
        assert error(exc)[2] == (
            f'ERROR: insert or update on table "{table}_child" violates foreign key constraint '
            f'"{table}_child_parent_fkey"; SQLState: 23503'
        )
    finally:
        api.execute(f"DROP TABLE {table}_child")


def test_sql_error_detail_when_configured(
    start_emulator: Callable[..., DataAPIEmulator], table: str
) -> None:
    """§4.4: `Detail:` (absent in the v2 samples) can be switched on."""
    api = Api(start_emulator(EmulatorConfig(include_error_detail=True)))
    api.execute(f"INSERT INTO {table} (id) VALUES (1)")
    exc = api.execute_fails(f"INSERT INTO {table} (id) VALUES (1)")
    assert error(exc)[2] == (
        f'ERROR: duplicate key value violates unique constraint "{table}_pkey"; '
        "Detail: Key (id)=(1) already exists.; SQLState: 23505"
    )


def test_sql_error_with_where_context(api: Api) -> None:
    """§4.4: errors raised inside functions carry PostgreSQL's context after the other parts."""
    exc = api.execute_fails("DO $$ BEGIN RAISE EXCEPTION 'boom' USING HINT = 'try again'; END $$")
    assert error(exc)[2] == (
        "ERROR: boom; Hint: try again; Where: PL/pgSQL function inline_code_block line 1 at RAISE; SQLState: P0001"
    )


def test_batch_errors_are_database_errors(api: Api, table: str) -> None:
    """§4.4: a failing parameter set gives the same v2 error text on BatchExecuteStatement."""
    exc = api.fails(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (uid) VALUES (:u)",
        parameterSets=[[param("u", stringValue="x")]],
    )
    code, status, message = error(exc)
    assert (code, status) == ("DatabaseErrorException", 400)
    assert message.startswith(
        'ERROR: column "uid" is of type uuid but expression is of type character varying;'
    )


def test_auto_pause_simulation(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§5.4/§8: after an idle period the first Execute/Batch/Begin fails with
    DatabaseResumingException and wakes the instance; calls during the resume fail too."""
    api = Api(start_emulator(EmulatorConfig(auto_pause_after=0.3, resume_duration=0.3)))
    assert api.value("SELECT 1") == {"longValue": 1}
    time.sleep(0.4)
    assert error(api.fails("BeginTransaction"))[:2] == ("DatabaseResumingException", 400)
    assert error(api.execute_fails("SELECT 1"))[0] == "DatabaseResumingException"  # still resuming
    time.sleep(0.35)
    assert api.value("SELECT 1") == {"longValue": 1}
    assert api.emulator.call_counts == {"ExecuteStatement": 3, "BeginTransaction": 1}


def test_no_auto_pause_with_an_open_transaction(
    start_emulator: Callable[..., DataAPIEmulator],
) -> None:
    """§5.4: an instance with open connections (here, a transaction) does not pause."""
    api = Api(start_emulator(EmulatorConfig(auto_pause_after=0.2)))
    transaction_id = api.begin()
    time.sleep(0.3)
    assert api.value("SELECT 1", transactionId=transaction_id) == {"longValue": 1}
    time.sleep(0.3)
    assert api.value("SELECT 1") == {"longValue": 1}
    assert api.commit(transaction_id) == {"transactionStatus": "Transaction Committed"}
