"""The facade's own multi-row writes never deadlock each other: rows are locked in one
order, and a unit of work the facade owns that still meets a deadlock or serialization
failure is retried. Real threads on real connections, both backends."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from alex_db import Database, DatabaseOperationError
from alex_db.schemas import PriceHistoryCreate
from tests.factories import instrument_create

THREADS = 8
SYMBOLS = [f"CC{i:02d}" for i in range(12)]


def run_threads(work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS, timeout=60)

    def body(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors


@pytest.fixture
def instruments(committed_db: Database) -> list[str]:
    committed_db.instruments.upsert_many(instrument_create(s) for s in SYMBOLS)
    return SYMBOLS


def test_overlapping_update_prices_from_many_threads_never_fail(
    committed_db: Database, instruments: list[str]
) -> None:
    rounds = 25
    # per thread, the last price it wrote for each symbol
    last: dict[int, dict[str, Decimal]] = {n: {} for n in range(THREADS)}

    def work(n: int) -> None:
        rng = random.Random(n)
        for r in range(rounds):
            chosen = rng.sample(instruments, 8)  # overlapping sets, each in its own order
            prices = {s: Decimal(f"{n}.{r:02d}") for s in (chosen if n % 2 else chosen[::-1])}
            committed_db.instruments.update_prices(prices)
            last[n].update(prices)

    assert run_threads(work) == []
    # The outcome of some serial order: in any order that keeps each thread's calls in
    # sequence, the final price of a symbol is the last one some thread wrote for it.
    for instrument in committed_db.instruments.find_all():
        finals = {
            prices[instrument.symbol] for prices in last.values() if instrument.symbol in prices
        }
        assert instrument.current_price in finals, (instrument.symbol, instrument.current_price)


def test_record_prices_in_opposite_orders_from_many_threads_never_fail(
    committed_db: Database, instruments: list[str]
) -> None:
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in range(25)]
    rows = [
        PriceHistoryCreate(symbol=s, date=d, close_price=Decimal("10.5"), volume=1)
        for s in instruments
        for d in days
    ]

    def work(n: int) -> None:
        for _ in range(6):
            committed_db.price_history.record_prices(rows if n % 2 else rows[::-1])

    assert run_threads(work) == []
    series = committed_db.price_history.series(instruments[0], days[0], days[-1])
    assert [p.date for p in series] == days


def test_a_deadlock_inside_a_callers_block_is_typed_and_the_facades_own_call_is_retried(
    committed_db: Database, instruments: list[str]
) -> None:
    """The caller's block takes CC01 then CC00: the opposite of the facade's order, so it
    can deadlock with the facade's own call. Whichever PostgreSQL picks as the victim,
    the facade's call succeeds (retried if it was the victim) and the caller's block
    gets a typed error with the SQLSTATE and is rolled back."""
    first, second = instruments[1], instruments[0]
    holding = threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def caller() -> None:
        try:
            with committed_db.transaction():
                committed_db.instruments.update_prices({first: Decimal("1.00")})
                holding.set()
                time.sleep(0.5)  # the facade's call now holds `second` and waits for `first`
                committed_db.instruments.update_prices({second: Decimal("1.00")})
            outcome["caller"] = None
        except BaseException as exc:
            outcome["caller"] = exc

    def facade() -> None:
        holding.wait(timeout=30)
        try:
            committed_db.instruments.update_prices(
                {first: Decimal("2.00"), second: Decimal("2.00")}
            )
            outcome["facade"] = None
        except BaseException as exc:
            outcome["facade"] = exc

    threads = [threading.Thread(target=caller), threading.Thread(target=facade)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcome["facade"] is None
    error = outcome["caller"]
    if error is not None:
        assert isinstance(error, DatabaseOperationError)
        assert error.sqlstate == "40P01"
    prices = {i.symbol: i.current_price for i in committed_db.instruments.find_all()}
    assert prices[first] == prices[second]  # one whole call won, never half of one
