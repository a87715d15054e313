"""The unit of work: ``with db.transaction()`` is one transaction that no facade
call inside it can escape, on both backends (every test here runs on each)."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

import alex_db
from alex_db import (
    AlreadyExistsError,
    Database,
    InvalidReferenceError,
    NotFoundError,
    TransactionAbortedError,
    TransactionBusyError,
)
from alex_db.models import Account, Position, User
from alex_db.repositories.base import Repository
from alex_db.schemas import (
    AccountCreate,
    JobCreate,
    JobRead,
    PriceHistoryCreate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from tests.factories import instrument_create

REPOSITORIES = Path(alex_db.__file__).parent / "repositories"


def user(clerk_user_id: str) -> UserCreate:
    return UserCreate(clerk_user_id=clerk_user_id)


def stored_users(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.scalars(select(User.clerk_user_id)))


# --- nothing escapes ----------------------------------------------------------------


def test_a_call_without_the_transaction_object_cannot_escape(committed_db: Database) -> None:
    """The case that used to commit "forgot": every facade call in the block joins it."""
    with pytest.raises(RuntimeError, match="boom"), committed_db.transaction() as tx:
        tx.users.create_user(user("inside"))
        committed_db.users.create_user(user("forgot"))  # no tx in sight
        raise RuntimeError("boom")
    assert stored_users(committed_db) == set()


def test_every_kind_of_call_joins_the_block(committed_db: Database) -> None:
    before = committed_db.instruments.create_instrument(instrument_create("UOW1"))
    with pytest.raises(RuntimeError), committed_db.transaction():
        committed_db.users.create_user(user("u1"))
        account = committed_db.accounts.create_account("u1", AccountCreate(account_name="a"))
        committed_db.positions.add_position(account.id, "UOW1", Decimal("3"))
        committed_db.instruments.update_prices({"UOW1": Decimal("12.5")})
        committed_db.instruments.upsert_many([instrument_create("UOW2")])
        job = committed_db.jobs.create_job(
            JobCreate(clerk_user_id="u1", job_type="rebalance_recommendation")
        )
        committed_db.jobs.start(job.id)
        committed_db.jobs.update_report(job.id, {"ok": True})
        committed_db.users.update("u1", UserUpdate(display_name="Ada"))
        # ...and reads inside see the block's own writes
        assert committed_db.portfolio.load("u1").accounts[0].positions[0].symbol == "UOW1"
        raise RuntimeError
    assert stored_users(committed_db) == set()
    assert committed_db.instruments.find_by_symbol("UOW2") is None
    assert committed_db.instruments.find_by_symbol("UOW1") == before


def test_a_services_own_session_queries_and_facade_calls_share_the_transaction(
    committed_db: Database,
) -> None:
    with pytest.raises(RuntimeError), committed_db.transaction() as tx:
        tx.session.add(User(clerk_user_id="orm_user"))
        # the facade sees the service's pending ORM object (it is flushed first)...
        assert committed_db.users.find_by_clerk_id("orm_user") is not None
        committed_db.accounts.create_account("orm_user", AccountCreate(account_name="Roth"))
        # ...and the service's own aggregate query sees the facade's write
        count = tx.session.scalar(
            select(func.count()).select_from(Account).where(Account.clerk_user_id == "orm_user")
        )
        assert count == 1
        raise RuntimeError
    assert stored_users(committed_db) == set()


def test_a_facade_write_refreshes_the_services_orm_objects(committed_db: Database) -> None:
    committed_db.users.create_user(user("fresh"))
    with committed_db.transaction() as tx:
        loaded = tx.session.get(User, "fresh")
        assert loaded is not None
        assert loaded.display_name is None
        committed_db.users.update("fresh", UserUpdate(display_name="Grace"))
        assert loaded.display_name == "Grace"


def test_the_block_commits_when_it_ends_normally(committed_db: Database) -> None:
    with committed_db.transaction() as tx:
        tx.users.create_user(user("kept"))
        committed_db.users.create_user(user("kept_too"))
    assert stored_users(committed_db) == {"kept", "kept_too"}


def test_the_readme_example_of_an_own_query_beside_a_facade_write(committed_db: Database) -> None:
    db = committed_db
    db.instruments.upsert_many([instrument_create("RDM1"), instrument_create("RDM2")])
    db.users.create_user(user("user_123"))
    for name, quantities in (("Taxable", ("1.5", "2")), ("Roth", ("3", "0.25"))):
        account = db.accounts.create_account("user_123", AccountCreate(account_name=name))
        for symbol, quantity in zip(("RDM1", "RDM2"), quantities, strict=True):
            db.positions.add_position(account.id, symbol, Decimal(quantity))

    with db.transaction() as tx:  # as in the README
        held = tx.session.execute(
            select(Position.symbol, func.sum(Position.quantity))
            .join(Account, Account.id == Position.account_id)
            .where(Account.clerk_user_id == "user_123")
            .group_by(Position.symbol)
        ).all()
        job = db.jobs.create_job(
            JobCreate(
                clerk_user_id="user_123",
                job_type="rebalance_recommendation",
                request_payload={"holdings": {symbol: str(quantity) for symbol, quantity in held}},
            )
        )
    stored = db.jobs.find_by_id(job.id)
    assert stored is not None
    assert stored.request_payload == {"holdings": {"RDM1": "4.50000000", "RDM2": "2.25000000"}}


# --- nesting ----------------------------------------------------------------------------


def test_a_failed_nested_block_rolls_back_alone(committed_db: Database) -> None:
    with committed_db.transaction() as outer:
        outer.users.create_user(user("outer"))
        with pytest.raises(RuntimeError), committed_db.transaction() as inner:
            assert inner.nested
            assert inner.parent is outer
            inner.users.create_user(user("inner"))
            raise RuntimeError
        assert committed_db.users.find_by_clerk_id("inner") is None
        committed_db.users.create_user(user("after"))
    assert stored_users(committed_db) == {"outer", "after"}


def test_an_outer_failure_rolls_back_the_inner_blocks_work(committed_db: Database) -> None:
    with pytest.raises(RuntimeError), committed_db.transaction():
        with committed_db.transaction():
            committed_db.users.create_user(user("inner"))
        committed_db.users.create_user(user("outer"))
        raise RuntimeError
    assert stored_users(committed_db) == set()


def test_an_expected_database_error_is_recovered_from_in_a_nested_block(
    committed_db: Database,
) -> None:
    committed_db.users.create_user(user("taken"))
    with committed_db.transaction():
        committed_db.users.create_user(user("new"))
        with pytest.raises(AlreadyExistsError), committed_db.transaction():
            committed_db.users.create_user(user("taken"))
        committed_db.users.create_user(user("new_too"))
    assert stored_users(committed_db) == {"taken", "new", "new_too"}


# --- a failed call spoils the transaction it ran in -------------------------------------


def test_a_caught_database_error_spoils_the_block(committed_db: Database) -> None:
    """The database refused a statement: the transaction cannot go on, and the block
    says so instead of pretending to commit what came before."""
    committed_db.users.create_user(user("taken"))
    with (
        pytest.raises(TransactionAbortedError, match="AlreadyExistsError"),
        committed_db.transaction(),
    ):
        committed_db.users.create_user(user("lost"))
        with pytest.raises(AlreadyExistsError):
            committed_db.users.create_user(user("taken"))
        with pytest.raises(TransactionAbortedError, match="cannot go on"):
            committed_db.users.find_by_clerk_id("lost")
    assert stored_users(committed_db) == {"taken"}


def test_unknown_symbols_found_before_writing_leave_the_block_usable(
    committed_db: Database,
) -> None:
    """update_prices and record_prices look the symbols up before they write: with an
    unknown one nothing of the call is written, and the block can go on."""
    committed_db.instruments.create_instrument(instrument_create("HALF"))
    with committed_db.transaction():
        committed_db.users.create_user(user("stays"))
        with pytest.raises(InvalidReferenceError, match="NOPE"):
            committed_db.instruments.update_prices({"HALF": Decimal(1), "NOPE": Decimal(2)})
        with pytest.raises(InvalidReferenceError, match="NOPE"):
            committed_db.price_history.record_prices(
                [
                    PriceHistoryCreate(symbol=s, date=dt.date(2024, 1, 2), close_price=1)
                    for s in ("HALF", "NOPE")
                ]
            )
        committed_db.users.create_user(user("stays_too"))
    assert stored_users(committed_db) == {"stays", "stays_too"}
    half = committed_db.instruments.find_by_symbol("HALF")
    assert half is not None
    assert half.current_price == Decimal("450.1234")  # not updated
    assert committed_db.price_history.latest_price("HALF") is None


def test_a_foreign_key_the_database_refuses_spoils_the_block(committed_db: Database) -> None:
    """The same class of error raised by the database (a position for an unknown
    symbol, refused by its foreign key) leaves a transaction PostgreSQL will not go on
    with."""
    committed_db.users.create_user(user("owner"))
    account = committed_db.accounts.create_account("owner", AccountCreate(account_name="a"))
    with (
        pytest.raises(TransactionAbortedError),
        committed_db.transaction(),
    ):
        committed_db.users.create_user(user("lost"))
        with pytest.raises(InvalidReferenceError):
            committed_db.positions.add_position(account.id, "NOPE", Decimal(1))
    assert stored_users(committed_db) == {"owner"}


def test_a_not_found_error_leaves_the_block_usable(committed_db: Database) -> None:
    """Errors raised after a statement that changed nothing do not spoil anything."""
    with committed_db.transaction():
        committed_db.users.create_user(user("stays"))
        with pytest.raises(NotFoundError):
            committed_db.users.update("ghost", UserUpdate(display_name="x"))
        committed_db.users.create_user(user("stays_too"))
    assert stored_users(committed_db) == {"stays", "stays_too"}


# --- isolation between threads, tasks and databases -------------------------------------


def test_two_threads_in_their_own_blocks_never_join_each_other(committed_db: Database) -> None:
    both_wrote = threading.Barrier(2, timeout=30)
    seen: dict[str, object] = {}
    errors: list[BaseException] = []

    def work(name: str, other: str, fail: bool) -> None:
        try:
            with committed_db.transaction():
                committed_db.users.create_user(user(name))
                both_wrote.wait()
                seen[name] = committed_db.users.find_by_clerk_id(other)
                both_wrote.wait()
                if fail:
                    raise RuntimeError(name)
        except RuntimeError:
            pass
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=("thread_a", "thread_b", False)),
        threading.Thread(target=work, args=("thread_b", "thread_a", True)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert seen == {"thread_a": None, "thread_b": None}  # neither saw the other's write
    assert stored_users(committed_db) == {"thread_a"}  # b's rollback did not touch a's


def test_two_asyncio_tasks_in_their_own_blocks_never_join_each_other(
    committed_db: Database,
) -> None:
    seen: dict[str, object] = {}

    async def work(name: str, other: str, fail: bool) -> None:
        with committed_db.transaction():
            committed_db.users.create_user(user(name))
            await asyncio.sleep(0.01)  # the other task runs its block meanwhile
            seen[name] = committed_db.users.find_by_clerk_id(other)
            await asyncio.sleep(0.01)
            if fail:
                raise RuntimeError(name)

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(
            work("task_a", "task_b", False), work("task_b", "task_a", True), return_exceptions=True
        )

    outcomes = asyncio.run(main())
    assert outcomes[0] is None
    assert isinstance(outcomes[1], RuntimeError)
    assert seen == {"task_a": None, "task_b": None}
    assert stored_users(committed_db) == {"task_a"}


def test_calls_from_worker_threads_inside_a_block_take_turns_on_its_session(
    committed_db: Database,
) -> None:
    """``asyncio.to_thread`` carries the block into its worker thread, so the worker's
    calls join it; several at once take turns on the block's one session (they raced
    on it: "Session is already flushing" spoiled the block, every time)."""

    async def main() -> list[UserRead | None]:
        with committed_db.transaction() as tx:
            tx.session.add_all([User(clerk_user_id=f"orm_{i}") for i in range(8)])
            found = await asyncio.gather(
                *(
                    asyncio.to_thread(committed_db.users.find_by_clerk_id, f"orm_{i}")
                    for i in range(8)
                )
            )
            await asyncio.gather(
                *(
                    asyncio.to_thread(committed_db.users.create_user, user(f"worker_{i}"))
                    for i in range(8)
                )
            )
        return found

    found = asyncio.run(main())
    assert [f.clerk_user_id if f else None for f in found] == [f"orm_{i}" for i in range(8)]
    assert stored_users(committed_db) == {f"orm_{i}" for i in range(8)} | {
        f"worker_{i}" for i in range(8)
    }


def test_nested_blocks_in_worker_threads_at_once_never_lose_a_write(
    committed_db: Database,
) -> None:
    """Savepoints are a stack on the block's one connection, so two threads' nested
    blocks cannot be open side by side: a worker whose nested block would land inside
    another's is refused (nothing sent). Whatever the timing, each worker's block is
    committed with the outer one, rolled back alone, or refused, and the rows say so."""

    def work(i: int) -> None:
        with committed_db.transaction():
            committed_db.users.create_user(user(f"nested_{i}"))
            time.sleep(0.01)
            if i % 2:
                raise RuntimeError(i)

    async def main() -> list[BaseException | None]:
        with committed_db.transaction():
            committed_db.users.create_user(user("outer"))
            return await asyncio.gather(
                *(asyncio.to_thread(work, i) for i in range(6)), return_exceptions=True
            )

    outcomes = asyncio.run(main())
    for i, outcome in enumerate(outcomes):
        expected = (TransactionBusyError, RuntimeError if i % 2 else type(None))
        assert isinstance(outcome, expected), (i, outcome)
    kept = {f"nested_{i}" for i, outcome in enumerate(outcomes) if outcome is None}
    assert stored_users(committed_db) == {"outer"} | kept


def test_a_nested_block_can_wait_for_a_worker_thread_inside_it(committed_db: Database) -> None:
    """A worker thread started inside a nested block is inside it: its call joins that
    savepoint (and is rolled back with it), while the block's own thread waits for it."""

    async def in_nested(name: str, fail: bool) -> None:
        with committed_db.transaction():
            await asyncio.wait_for(
                asyncio.to_thread(committed_db.users.create_user, user(name)), timeout=30
            )
            if fail:
                raise RuntimeError(name)

    async def main() -> None:
        with committed_db.transaction():
            await in_nested("kept", fail=False)
            with pytest.raises(RuntimeError):
                await in_nested("dropped", fail=True)

    asyncio.run(main())
    assert stored_users(committed_db) == {"kept"}


def test_a_block_left_while_a_worker_threads_nested_block_is_open_commits_nothing(
    committed_db: Database,
) -> None:
    """Committing then would commit the worker's half-done savepoint: the block rolls
    back and raises, and the worker's block fails when it ends."""
    inside, go = threading.Event(), threading.Event()
    worker_errors: list[BaseException] = []

    def nested() -> None:
        try:
            with committed_db.transaction():
                committed_db.users.create_user(user("half_done"))
                inside.set()
                go.wait(30)
        except BaseException as exc:
            worker_errors.append(exc)

    with pytest.raises(TransactionBusyError), committed_db.transaction():
        committed_db.users.create_user(user("outer"))
        worker = threading.Thread(target=contextvars.copy_context().run, args=(nested,))
        worker.start()
        assert inside.wait(30)
    go.set()
    worker.join(30)
    assert len(worker_errors) == 1
    assert stored_users(committed_db) == set()


def test_a_task_cannot_write_inside_another_tasks_nested_block(committed_db: Database) -> None:
    """Two asyncio tasks of one block, one inside a nested block that later fails: the
    other's nested block and its plain call would have landed inside that savepoint and
    been rolled back with it, after reporting success (its user was silently lost).
    They are refused instead, before anything is sent, and the block goes on."""
    opened = asyncio.Event()

    async def failing() -> None:
        with committed_db.transaction():
            committed_db.users.create_user(user("in_failing"))
            opened.set()
            await asyncio.sleep(0.05)
            raise RuntimeError("failing")

    async def nested_meanwhile() -> None:
        await opened.wait()
        with committed_db.transaction():
            committed_db.users.create_user(user("lost_nested"))

    async def call_meanwhile() -> None:
        await opened.wait()
        committed_db.users.create_user(user("lost_call"))

    async def main() -> list[BaseException | None]:
        with committed_db.transaction():
            committed_db.users.create_user(user("outer"))
            outcomes = await asyncio.gather(
                failing(), nested_meanwhile(), call_meanwhile(), return_exceptions=True
            )
            committed_db.users.create_user(user("after"))  # the block is still usable
            return outcomes

    outcomes = asyncio.run(main())
    assert [type(o).__name__ for o in outcomes] == [
        "RuntimeError",
        "TransactionBusyError",
        "TransactionBusyError",
    ]
    assert stored_users(committed_db) == {"outer", "after"}


def test_a_block_left_while_a_tasks_nested_block_is_open_commits_nothing(
    committed_db: Database,
) -> None:
    """The outer block ends while a task it started is still inside a nested block:
    committing would commit that half-done savepoint, so it rolls back and says so."""

    async def main() -> asyncio.Task[None]:
        opened = asyncio.Event()

        async def lingering() -> None:
            with committed_db.transaction():
                committed_db.users.create_user(user("half_done"))
                opened.set()
                await asyncio.sleep(0.05)

        with committed_db.transaction():
            committed_db.users.create_user(user("outer"))
            task = asyncio.create_task(lingering())
            await opened.wait()
        return task  # not reached: leaving the block raised

    with pytest.raises(TransactionBusyError):
        asyncio.run(main())
    assert stored_users(committed_db) == set()


def test_a_thread_started_without_the_blocks_context_is_outside_it(
    committed_db: Database,
) -> None:
    """A bare Thread (or run_in_executor) does not carry the context: its call is its
    own unit of work, committed whatever the block does (the README says so)."""
    with pytest.raises(RuntimeError), committed_db.transaction():
        worker = threading.Thread(target=committed_db.users.create_user, args=(user("outside"),))
        worker.start()
        worker.join(30)
        committed_db.users.create_user(user("inside"))
        raise RuntimeError
    assert stored_users(committed_db) == {"outside"}


def test_two_databases_never_share_a_block(committed_db: Database) -> None:
    other = Database.from_engine(committed_db.engine, committed_db.settings)
    with pytest.raises(RuntimeError), committed_db.transaction():
        other.users.create_user(user("other_db"))  # its own unit of work: commits
        committed_db.users.create_user(user("this_db"))
        raise RuntimeError
    assert stored_users(committed_db) == {"other_db"}


# --- inside the test fixtures -------------------------------------------------------------


def test_blocks_work_inside_the_per_test_transaction(db: Database) -> None:
    """The ``alex_db`` fixture's Database: a block is a savepoint of the test's
    transaction (rolled back after the test); nesting and rollback behave the same."""
    with db.transaction() as tx:
        tx.users.create_user(user("fixture_kept"))
        with pytest.raises(RuntimeError), db.transaction():
            db.users.create_user(user("fixture_dropped"))
            raise RuntimeError
    assert db.users.find_by_clerk_id("fixture_kept") is not None
    assert db.users.find_by_clerk_id("fixture_dropped") is None


# --- the API it leaves --------------------------------------------------------------------


def test_payload_updates_return_the_updated_job(db: Database) -> None:
    db.users.create_user(user("agent"))
    job = db.jobs.create_job(JobCreate(clerk_user_id="agent", job_type="portfolio_analysis"))
    for update, column in (
        (db.jobs.update_report, "report_payload"),
        (db.jobs.update_charts, "charts_payload"),
        (db.jobs.update_retirement, "retirement_payload"),
        (db.jobs.update_summary, "summary_payload"),
    ):
        written = update(job.id, {"column": column})
        assert isinstance(written, JobRead)
        assert getattr(written, column) == {"column": column}
        assert written == db.jobs.find_by_id(job.id)
    with pytest.raises(NotFoundError):
        db.jobs.update_report("00000000-0000-0000-0000-000000000000", {})


def repository_methods() -> list[tuple[str, inspect.Signature]]:
    found = []
    for cls in Repository.__subclasses__():
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                found.append((f"{cls.__name__}.{name}", inspect.signature(member)))
    return found


def test_no_repository_method_takes_a_session() -> None:
    methods = repository_methods()
    assert len(methods) > 40
    assert [name for name, sig in methods if "session" in sig.parameters] == []


def test_the_repositories_never_ask_which_backend_they_are_on() -> None:
    for path in REPOSITORIES.glob("*.py"):
        source = path.read_text()
        code = "\n".join(
            line for line in source.splitlines() if not line.startswith(("from ", "import "))
        )
        for check in (
            r"\.dialect\b",
            r"\.driver\b",
            "get_driver_name",
            "is_data_api",
            "alexdataapi",
        ):
            assert not re.search(check, code), f"{path.name} asks the backend ({check!r})"


def test_the_product_never_imports_its_test_machinery() -> None:
    modules = [
        m.name
        for m in pkgutil.walk_packages(alex_db.__path__, "alex_db.")
        if not m.name.startswith("alex_db.testing")
    ]
    assert {"alex_db.cli", "alex_db.embedded"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('alex_db.testing')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_db_session_is_gone_not_a_synonym() -> None:
    assert not hasattr(Database, "session")
    assert importlib.import_module("alex_db").TransactionAbortedError is TransactionAbortedError
