"""Transactions, sessions, concurrency, expiry and BatchExecute (docs/data-api.md §1.2, §1.3, §5.2, §5.5)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import URL

from alex_db.testing.dataapi import DataAPIEmulator, EmulatorConfig
from alex_db.testing.dataapi.backend import EmulatorStartError
from tests.dataapi.conftest import libpq
from tests.dataapi.support import Api, backends, error, make_client, param, port_of, wait_for
from tests.faults import FaultProxy

InThread = Callable[[Callable[[], Any]], AbstractContextManager[list[Any]]]


def _count(pg: psycopg.Connection[Any], table: str) -> int:
    row = pg.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_commit_makes_changes_visible(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§1.3: work inside a transaction is invisible to others until CommitTransaction."""
    transaction_id = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)", transactionId=transaction_id)
    assert api.value(f"SELECT count(*) FROM {table}", transactionId=transaction_id) == {
        "longValue": 1
    }
    assert _count(pg, table) == 0
    assert api.commit(transaction_id) == {"transactionStatus": "Transaction Committed"}
    assert _count(pg, table) == 1


def test_rollback_discards_changes(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§1.3/§5.2: RollbackTransaction discards the work, DDL included (PostgreSQL DDL is transactional)."""
    transaction_id = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)", transactionId=transaction_id)
    api.execute(f"CREATE TABLE {table}_ddl (a int)", transactionId=transaction_id)
    assert api.rollback(transaction_id) == {"transactionStatus": "Rollback Complete"}
    assert _count(pg, table) == 0
    row = pg.execute("SELECT to_regclass(%s)", [f"{table}_ddl"]).fetchone()
    assert row == (None,)


def test_autocommit_without_transaction_id(
    api: Api, table: str, pg: psycopg.Connection[Any]
) -> None:
    """§1.1/§5.2: without transactionId each call commits at once."""
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)")
    assert _count(pg, table) == 1


def test_no_session_state_between_autocommit_calls(api: Api, pg: psycopg.Connection[Any]) -> None:
    """§5.2: outside a transaction SET, temp tables, advisory locks and BEGIN do not outlive the call."""
    pid = api.value("SELECT pg_backend_pid()")
    default_timeout = api.value("SHOW statement_timeout")
    api.execute("SET statement_timeout = '1234ms'")
    api.execute("CREATE TEMP TABLE leaked (a int)")
    api.execute("SELECT pg_advisory_lock(4242)")
    api.execute("BEGIN")
    assert api.value("SELECT pg_backend_pid()") == pid  # the same pooled connection, reset
    assert api.value("SHOW statement_timeout") == default_timeout != {"stringValue": "1234ms"}
    assert error(api.execute_fails("SELECT * FROM leaked"))[2].startswith(
        'ERROR: relation "leaked" does not exist'
    )
    assert api.value("SELECT now() = statement_timestamp()") == {
        "booleanValue": True
    }  # not in a transaction
    row = pg.execute("SELECT pg_try_advisory_lock(4242)").fetchone()
    assert row == (True,)
    pg.execute("SELECT pg_advisory_unlock(4242)")


def test_session_state_lives_as_long_as_the_transaction(api: Api) -> None:
    """§5.2: a transaction pins one session; its SETs last until it ends and no longer."""
    default_work_mem = api.value("SHOW work_mem")
    transaction_id = api.begin()
    api.execute("SET LOCAL statement_timeout = '4321ms'", transactionId=transaction_id)
    api.execute("SET work_mem = '7777kB'", transactionId=transaction_id)
    assert api.value("SHOW statement_timeout", transactionId=transaction_id) == {
        "stringValue": "4321ms"
    }
    assert api.value("SHOW work_mem", transactionId=transaction_id) == {"stringValue": "7777kB"}
    api.commit(transaction_id)
    for _ in range(3):  # whichever pooled session answers, it has the server default again
        assert api.value("SHOW work_mem") == default_work_mem != {"stringValue": "7777kB"}


def test_each_transaction_has_its_own_connection(api: Api) -> None:
    """Issue 4: one dedicated PostgreSQL connection per transaction id."""
    first, second = api.begin(), api.begin()
    pid_first = api.value("SELECT pg_backend_pid()", transactionId=first)
    pid_second = api.value("SELECT pg_backend_pid()", transactionId=second)
    assert pid_first != pid_second
    assert api.value("SELECT pg_backend_pid()", transactionId=first) == pid_first
    api.rollback(first)
    api.rollback(second)


def test_busy_transaction_rejects_a_second_call(
    api: Api, pg: psycopg.Connection[Any], in_thread: InThread
) -> None:
    """§5.2/§4.3: v2 fails a call on a transaction that is still running a query, at once."""
    transaction_id = api.begin()
    client = make_client(api.emulator.endpoint_url)
    with in_thread(
        lambda: Api(api.emulator, client).value(
            "SELECT pg_sleep(1)::text", transactionId=transaction_id
        )
    ) as outcome:
        wait_for(
            lambda: any(
                "pg_sleep" in q for s, q in backends(pg, port_of(api.emulator)) if s == "active"
            ),
            what="sleep",
        )
        started = time.monotonic()
        for operation, arguments in [
            ("ExecuteStatement", {"sql": "SELECT 1"}),
            ("BatchExecuteStatement", {"sql": "SELECT 1", "parameterSets": [[]]}),
            ("CommitTransaction", {}),
            ("RollbackTransaction", {}),
        ]:
            exc = api.fails(operation, transactionId=transaction_id, **arguments)
            assert error(exc) == (
                "DatabaseErrorException",
                400,
                "Transaction is still running a query",
            ), operation
        assert time.monotonic() - started < 0.9  # failed immediately, did not queue
    assert outcome == [{"stringValue": ""}]
    assert api.commit(transaction_id) == {"transactionStatus": "Transaction Committed"}


def test_transactions_run_in_parallel(api: Api, in_thread: InThread) -> None:
    """§5.1: v2 has no request-rate limit; separate transactions do not wait for each other."""
    ids = [api.begin() for _ in range(3)]
    clients = [make_client(api.emulator.endpoint_url) for _ in ids]
    started = time.monotonic()
    with (
        in_thread(
            lambda: Api(api.emulator, clients[0]).value(
                "SELECT pg_sleep(0.6)::text", transactionId=ids[0]
            )
        ) as a,
        in_thread(
            lambda: Api(api.emulator, clients[1]).value(
                "SELECT pg_sleep(0.6)::text", transactionId=ids[1]
            )
        ) as b,
        in_thread(
            lambda: Api(api.emulator, clients[2]).value(
                "SELECT pg_sleep(0.6)::text", transactionId=ids[2]
            )
        ) as c,
    ):
        pass
    assert time.monotonic() - started < 1.5
    assert a == b == c == [{"stringValue": ""}]
    for transaction_id in ids:
        api.rollback(transaction_id)


def test_many_clients_at_once(
    api: Api, table: str, pg: psycopg.Connection[Any], in_thread: InThread
) -> None:
    """Issue 4: many threads, each with its own boto3 client, call the emulator concurrently."""
    clients = [make_client(api.emulator.endpoint_url) for _ in range(12)]

    def work(client: Any, worker: int) -> int:
        worker_api = Api(api.emulator, client)
        for i in range(10):
            if i % 3 == 0:
                transaction_id = worker_api.begin()
                worker_api.execute(
                    f"INSERT INTO {table} (qty) VALUES (:q)",
                    [param("q", longValue=worker)],
                    transactionId=transaction_id,
                )
                worker_api.commit(transaction_id)
            else:
                worker_api.execute(
                    f"INSERT INTO {table} (qty) VALUES (:q)", [param("q", longValue=worker)]
                )
        return worker

    with ExitStack() as stack:
        outcomes = [
            stack.enter_context(in_thread(lambda c=client, w=n: work(c, w)))
            for n, client in enumerate(clients)
        ]
    assert [o[0] for o in outcomes] == list(range(12))
    assert _count(pg, table) == 120
    assert api.emulator.open_transactions == 0


def test_error_leaves_v2_transaction_aborted(
    api: Api, table: str, pg: psycopg.Connection[Any]
) -> None:
    """§5.2 (v2): after a SQL error the transaction stays open in the aborted state until rollback."""
    transaction_id = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)", transactionId=transaction_id)
    api.execute_fails("SELECT * FROM no_such_table", transactionId=transaction_id)
    exc = api.execute_fails("SELECT 1", transactionId=transaction_id)
    assert error(exc) == (
        "DatabaseErrorException",
        400,
        "ERROR: current transaction is aborted, commands ignored until end of transaction block; SQLState: 25P02",
    )
    assert api.rollback(transaction_id) == {"transactionStatus": "Rollback Complete"}
    assert _count(pg, table) == 0


def test_commit_of_aborted_transaction_fails(
    api: Api, table: str, pg: psycopg.Connection[Any]
) -> None:
    """§5.2 (unconfirmed): committing an aborted transaction rolls it back and says so."""
    transaction_id = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)", transactionId=transaction_id)
    api.execute_fails("SELECT * FROM no_such_table", transactionId=transaction_id)
    code, status, message = error(api.fails("CommitTransaction", transactionId=transaction_id))
    assert (code, status) == ("DatabaseErrorException", 400)
    assert message == (
        "ERROR: The database returned ROLLBACK, so the transaction cannot be committed. Transaction failure "
        'cause is <<ERROR: relation "no_such_table" does not exist; Position: 15>>; SQLState: 25P02'
    )
    assert _count(pg, table) == 0
    assert (
        error(api.fails("RollbackTransaction", transactionId=transaction_id))[0]
        == "TransactionNotFoundException"
    )


def test_error_ends_v1_transaction(
    start_emulator: Callable[..., DataAPIEmulator], table: str, pg: psycopg.Connection[Any]
) -> None:
    """§5.2 (v1 policy): the error ends the transaction; later calls get "is not found" with the cause."""
    api = Api(start_emulator(EmulatorConfig(post_error_policy="v1")))
    transaction_id = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)", transactionId=transaction_id)
    api.execute_fails("SELECT * FROM no_such_table", transactionId=transaction_id)
    expected = (
        "TransactionNotFoundException",
        404,
        f"Transaction {transaction_id} is not found: transaction has been aborted due to an error from a previous call",
    )
    assert error(api.execute_fails("SELECT 1", transactionId=transaction_id)) == expected
    assert error(api.fails("RollbackTransaction", transactionId=transaction_id)) == expected
    assert _count(pg, table) == 0
    assert api.emulator.open_transactions == 0


def test_unsupported_result_keeps_v2_transaction_usable(api: Api) -> None:
    """§5.2 (v2): an error raised after the statement ran (unsupported result) leaves the transaction usable."""
    transaction_id = api.begin()
    assert (
        error(api.execute_fails("SELECT '1 day'::interval", transactionId=transaction_id))[0]
        == "UnsupportedResultException"
    )
    assert api.value("SELECT 1", transactionId=transaction_id) == {"longValue": 1}
    api.commit(transaction_id)


@pytest.mark.parametrize(
    "operation",
    ["ExecuteStatement", "BatchExecuteStatement", "CommitTransaction", "RollbackTransaction"],
)
def test_unknown_transaction_id(api: Api, operation: str) -> None:
    """§4.3: an unknown transaction id is TransactionNotFoundException (404) on every operation."""
    arguments: dict[str, Any] = {"transactionId": "bogus-transaction-id"}
    if operation == "ExecuteStatement":
        arguments["sql"] = "SELECT 1"
    elif operation == "BatchExecuteStatement":
        arguments.update(sql="SELECT 1", parameterSets=[[]])
    exc = api.fails(operation, **arguments)
    assert error(exc) == (
        "TransactionNotFoundException",
        404,
        "Transaction bogus-transaction-id is not found",
    )
    assert isinstance(exc, api.client.exceptions.TransactionNotFoundException)


def test_ended_transaction_id_is_gone(api: Api) -> None:
    """§1.3: after commit or rollback the id is no longer known."""
    transaction_id = api.begin()
    api.commit(transaction_id)
    for operation in ("CommitTransaction", "RollbackTransaction"):
        assert error(api.fails(operation, transactionId=transaction_id))[:2] == (
            "TransactionNotFoundException",
            404,
        )
    assert (
        error(api.execute_fails("SELECT 1", transactionId=transaction_id))[0]
        == "TransactionNotFoundException"
    )


def test_idle_transaction_expires(
    start_emulator: Callable[..., DataAPIEmulator], table: str, pg: psycopg.Connection[Any]
) -> None:
    """§5.1/§5.2: a transaction without a call for the idle timeout is rolled back; its id then fails."""
    emulator = start_emulator(EmulatorConfig(transaction_idle_timeout=0.3))
    api = Api(emulator)
    transaction_id = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)", transactionId=transaction_id)
    wait_for(lambda: emulator.open_transactions == 0, timeout=3, what="expiry")
    assert _count(pg, table) == 0
    assert all(
        state == "idle" for state, _ in backends(pg, port_of(emulator))
    )  # nothing idle in transaction
    expected = (
        "TransactionNotFoundException",
        404,
        f"Transaction {transaction_id} is not found: transaction may be expired",
    )
    assert error(api.execute_fails("SELECT 1", transactionId=transaction_id)) == expected
    assert error(api.fails("RollbackTransaction", transactionId=transaction_id)) == expected


def test_activity_keeps_a_transaction_alive(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§5.1: the idle timeout counts from the last call using the id."""
    api = Api(start_emulator(EmulatorConfig(transaction_idle_timeout=0.4)))
    transaction_id = api.begin()
    for _ in range(8):
        time.sleep(0.1)
        api.execute("SELECT 1", transactionId=transaction_id)
    assert api.commit(transaction_id) == {"transactionStatus": "Transaction Committed"}


def test_transaction_max_lifetime(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """§5.1: a transaction older than its maximum lifetime is rolled back even while in use."""
    api = Api(
        start_emulator(EmulatorConfig(transaction_max_lifetime=0.5, transaction_idle_timeout=60))
    )
    transaction_id = api.begin()
    started = time.monotonic()
    failure: ClientError | None = None
    while failure is None and time.monotonic() - started < 3:
        try:
            api.execute("SELECT 1", transactionId=transaction_id)  # in use all along
        except ClientError as exc:
            failure = exc
        time.sleep(0.05)
    assert failure is not None, "the transaction outlived its maximum lifetime"
    assert time.monotonic() - started >= 0.5
    assert error(failure) == (
        "TransactionNotFoundException",
        404,
        f"Transaction {transaction_id} is not found: transaction may be expired",
    )


def test_only_the_started_database_is_served(api: Api, other_database: str) -> None:
    """The emulated cluster holds the database it was started for: another database on
    the same server "does not exist" in it (it used to be served)."""
    assert api.value("SELECT db FROM marker") == {"stringValue": "main"}
    for operation, arguments in [
        ("ExecuteStatement", {"sql": "SELECT db FROM marker"}),
        ("BeginTransaction", {}),
    ]:
        exc = api.fails(operation, database=other_database, **arguments)
        assert error(exc) == (
            "DatabaseErrorException",
            400,
            f'FATAL: database "{other_database}" does not exist; SQLState: 3D000',
        )


def test_database_member_selects_the_database(
    start_emulator: Callable[..., DataAPIEmulator], other_database: str
) -> None:
    """§1.1/§5.5: with serve_any_database, `database` picks a database on the same
    server, for calls and transactions."""
    api = Api(start_emulator(serve_any_database=True))
    assert api.value("SELECT db FROM marker") == {"stringValue": "main"}
    assert api.value("SELECT db FROM marker", database=other_database) == {"stringValue": "other"}
    transaction_id = api.begin(database=other_database)
    assert api.value("SELECT db FROM marker", transactionId=transaction_id) == {
        "stringValue": "other"
    }
    # The transaction's database wins over a different `database` member (unconfirmed).
    assert api.value(
        "SELECT db FROM marker", transactionId=transaction_id, database="postgres"
    ) == {"stringValue": "other"}
    api.commit(transaction_id)


def test_unknown_database(api: Api) -> None:
    """§1.1: a database that does not exist fails as a database error (3D000)."""
    for operation, arguments in [
        ("ExecuteStatement", {"sql": "SELECT 1"}),
        ("BeginTransaction", {}),
    ]:
        exc = api.fails(operation, database="no_such_database", **arguments)
        assert error(exc) == (
            "DatabaseErrorException",
            400,
            'FATAL: database "no_such_database" does not exist; SQLState: 3D000',
        )


def test_an_unreachable_database_fails_the_start(tmp_path: Any) -> None:
    """It checks its database at start and fails fast, not at the first request."""
    emulator = DataAPIEmulator(f"postgresql://nobody@/nowhere?host={tmp_path}")
    with pytest.raises(EmulatorStartError, match="'nowhere' cannot be reached"):
        emulator.start()
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.endpoint_url


def test_unreachable_postgres(dataapi_url: URL) -> None:
    """§4.1: when PostgreSQL cannot be reached the call fails with DatabaseUnavailableException (504)."""
    proxy = FaultProxy(dataapi_url)
    with DataAPIEmulator(proxy.url(dataapi_url)) as emulator:
        proxy.close()  # PostgreSQL is gone after the start: no new connection gets through
        with psycopg.connect(libpq(dataapi_url), autocommit=True) as direct:
            direct.execute(  # and the emulator's idle connections are cut
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [f"alex-db-dataapi:{port_of(emulator)}"],
            )
        client = make_client(emulator.endpoint_url, max_attempts=1)
        exc = Api(emulator, client).execute_fails("SELECT 1")
        assert error(exc) == ("DatabaseUnavailableException", 504, "")


def test_batch_runs_once_per_parameter_set(api: Api, table: str) -> None:
    """§1.2: the statement runs once per parameter set; generatedFields are empty on PostgreSQL."""
    response = api.call(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (qty, label) VALUES (:q, :l)",
        parameterSets=[
            [param("q", longValue=1), param("l", stringValue="a")],
            [param("q", longValue=2), param("l", stringValue="b")],
        ],
    )
    assert response == {"updateResults": [{"generatedFields": []}, {"generatedFields": []}]}
    assert api.execute(f"SELECT qty, label FROM {table} ORDER BY qty")["records"] == [
        [{"longValue": 1}, {"stringValue": "a"}],
        [{"longValue": 2}, {"stringValue": "b"}],
    ]


def test_batch_with_empty_sets(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§1.2: to run without parameters, send one or more empty sets."""
    response = api.call(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (qty) VALUES (7)",
        parameterSets=[[], [], []],
    )
    assert len(response["updateResults"]) == 3
    assert _count(pg, table) == 3


def test_batch_without_sets_runs_nothing(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§1.2: with no parameter set at all the statement does not run."""
    assert api.call("BatchExecuteStatement", sql=f"INSERT INTO {table} (qty) VALUES (7)") == {
        "updateResults": []
    }
    assert _count(pg, table) == 0


def test_batch_is_atomic_outside_a_transaction(
    api: Api, table: str, pg: psycopg.Connection[Any]
) -> None:
    """§1.2 (unconfirmed): a failing set rolls back the earlier sets of the same call."""
    exc = api.fails(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (qty, label) VALUES (:q, :l)",
        parameterSets=[
            [param("q", longValue=1), param("l", stringValue="a")],
            [param("q", longValue=2), param("l", isNull=True)],
        ],
    )
    assert error(exc)[2] == (
        f'ERROR: null value in column "label" of relation "{table}" violates not-null constraint; SQLState: 23502'
    )
    assert _count(pg, table) == 0


def test_batch_inside_a_transaction(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§1.2: with transactionId the batch is part of the transaction (and a failure aborts it, v2)."""
    transaction_id = api.begin()
    sql = f"INSERT INTO {table} (qty) VALUES (:q)"
    api.call(
        "BatchExecuteStatement",
        sql=sql,
        parameterSets=[[param("q", longValue=1)]],
        transactionId=transaction_id,
    )
    assert _count(pg, table) == 0
    api.fails(
        "BatchExecuteStatement",
        sql=sql,
        parameterSets=[[param("q", stringValue="x")]],
        transactionId=transaction_id,
    )
    assert error(api.execute_fails("SELECT 1", transactionId=transaction_id))[2].endswith(
        "SQLState: 25P02"
    )
    api.rollback(transaction_id)
    assert _count(pg, table) == 0


def test_batch_of_ten_thousand_rows(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§1.2/issue 4: a 10,000-row load in one call is fast (pipelined executemany)."""
    sets = [
        [
            param("q", longValue=i),
            param("l", stringValue=f"row {i}"),
            param("u", "UUID", stringValue=f"00000000-0000-0000-0000-{i:012d}"),
            param("a", "DECIMAL", stringValue=f"{i}.25"),
            param("d", "DATE", stringValue="2024-01-31"),
        ]
        for i in range(10_000)
    ]
    started = time.monotonic()
    response = api.call(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (qty, label, uid, amount, day) VALUES (:q, :l, :u, :a, :d)",
        parameterSets=sets,
    )
    elapsed = time.monotonic() - started
    assert len(response["updateResults"]) == 10_000
    assert _count(pg, table) == 10_000
    assert elapsed < 10, f"10,000 rows took {elapsed:.1f} s"
    row = pg.execute(
        f"SELECT label, uid::text, amount::text FROM {table} WHERE qty = 9999"
    ).fetchone()
    assert row == ("row 9999", "00000000-0000-0000-0000-000000009999", "9999.25")


def test_commit_failure_ends_the_transaction(api: Api, pg: psycopg.Connection[Any]) -> None:
    """§1.3: an error raised by COMMIT itself (a deferred constraint) fails the call and ends the transaction."""
    name = f"deferred_{time.monotonic_ns()}"
    pg.execute(
        f"CREATE TABLE {name} (k int, CONSTRAINT {name}_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)"
    )
    try:
        transaction_id = api.begin()
        api.execute(f"INSERT INTO {name} VALUES (1), (1)", transactionId=transaction_id)
        code, status, message = error(api.fails("CommitTransaction", transactionId=transaction_id))
        assert (code, status) == ("DatabaseErrorException", 400)
        assert (
            message
            == f'ERROR: duplicate key value violates unique constraint "{name}_k"; SQLState: 23505'
        )
        assert (
            error(api.fails("RollbackTransaction", transactionId=transaction_id))[0]
            == "TransactionNotFoundException"
        )
        assert _count(pg, name) == 0
    finally:
        pg.execute(f"DROP TABLE {name}")


def test_terminated_session_ends_the_transaction(api: Api) -> None:
    """§4.3: when the transaction's session dies, later calls learn that a previous call ended it."""
    transaction_id = api.begin()
    code, _, message = error(
        api.execute_fails(
            "SELECT pg_terminate_backend(pg_backend_pid())", transactionId=transaction_id
        )
    )
    assert code == "DatabaseErrorException"
    assert "terminating connection due to administrator command" in message
    assert error(api.execute_fails("SELECT 1", transactionId=transaction_id)) == (
        "TransactionNotFoundException",
        404,
        f"Transaction {transaction_id} is not found: one previous call resulted in a termination of your transaction",
    )
    assert api.emulator.open_transactions == 0


def test_terminated_autocommit_session_is_replaced(api: Api) -> None:
    """§5.2: a pooled session that dies is dropped; the next call gets a fresh one."""
    pid = api.value("SELECT pg_backend_pid()")
    assert (
        error(api.execute_fails("SELECT pg_terminate_backend(pg_backend_pid())"))[0]
        == "DatabaseErrorException"
    )
    assert api.value("SELECT pg_backend_pid()") != pid


def test_max_lifetime_cancels_a_running_statement(
    start_emulator: Callable[..., DataAPIEmulator], in_thread: InThread
) -> None:
    """§5.1: past its lifetime a transaction is ended even in the middle of a statement."""
    emulator = start_emulator(EmulatorConfig(transaction_max_lifetime=0.4, statement_timeout=30))
    api = Api(emulator)
    transaction_id = api.begin()
    started = time.monotonic()
    with in_thread(
        lambda: Api(emulator, make_client(emulator.endpoint_url)).execute_fails(
            "SELECT pg_sleep(10)", transactionId=transaction_id
        )
    ) as outcome:
        pass
    assert time.monotonic() - started < 5
    assert error(outcome[0])[2] == "ERROR: canceling statement due to user request; SQLState: 57014"
    assert error(api.execute_fails("SELECT 1", transactionId=transaction_id)) == (
        "TransactionNotFoundException",
        404,
        f"Transaction {transaction_id} is not found: transaction may be expired",
    )
