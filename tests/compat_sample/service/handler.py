# A service on the old package: every call below is an old call (check-code's sample).
from src import Database
from src.schemas import InstrumentCreate

db = Database()


def handle(job_id, clerk_user_id):
    db.jobs.update_status(job_id, "running")
    user = db.users.find_by_clerk_id(clerk_user_id)
    db.client.update("instruments", {"current_price": 1.0}, "symbol = :s", {"s": "SPY"})
    rows = db.query_raw("SELECT 1")
    db.jobs.update_report(job_id, {"content": "x"})
    db.users.db.insert("users", {"clerk_user_id": "u"}, returning="clerk_user_id")
    db.accounts.find_by_id("a")
    return user, rows, InstrumentCreate
