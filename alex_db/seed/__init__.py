"""Reference data (the 22 ETFs) and the demo user, both safe to load repeatedly.

from alex_db import Database
from alex_db.seed import create_test_data, seed

db = Database()
seed(db)               # rows changed: 22 the first time, 0 afterwards
create_test_data(db)   # test_user_001 with accounts, positions and prices
"""

from alex_db.seed.instruments import SEED_FILE, load_instruments, seed
from alex_db.seed.sample import (
    PRICE_HISTORY_DAYS,
    PRICE_HISTORY_END,
    TEST_ACCOUNTS,
    TEST_POSITIONS,
    TEST_USER,
    TEST_USER_ID,
    SampleData,
    create_test_data,
    sample_price_history,
)

__all__ = [
    "PRICE_HISTORY_DAYS",
    "PRICE_HISTORY_END",
    "SEED_FILE",
    "TEST_ACCOUNTS",
    "TEST_POSITIONS",
    "TEST_USER",
    "TEST_USER_ID",
    "SampleData",
    "create_test_data",
    "load_instruments",
    "sample_price_history",
    "seed",
]
