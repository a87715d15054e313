# Already on alex_db: nothing to report.
from alex_db import Database
from alex_db.schemas import JobCreate

db = Database()


def handle(clerk_user_id):
    job = db.jobs.create_job(JobCreate(clerk_user_id=clerk_user_id, job_type="portfolio_analysis"))
    db.jobs.start(job.id)
    return db.users.find_by_clerk_id(clerk_user_id)
