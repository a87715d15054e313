"""Creates a service retries after an unknown outcome take a caller-chosen id: the
retry returns the row already written instead of making a second one. Both backends."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from alex_db import AlreadyExistsError, Database
from alex_db.models import AgentLog, Job
from alex_db.schemas import AgentLogCreate, JobCreate, UserCreate


def count(db: Database, model: type[Job] | type[AgentLog]) -> int:
    with db.transaction() as tx:
        return int(tx.session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def owner(db: Database) -> str:
    return db.users.create_user(UserCreate(clerk_user_id="retrier")).clerk_user_id


@pytest.mark.parametrize("payload", [None, {"amount": "10.50", "keys ": [1, 2.5]}])
def test_a_retried_create_job_returns_the_job_already_written(
    db: Database, owner: str, payload: dict[str, object] | None
) -> None:
    job_id = uuid.uuid4()
    request = JobCreate(
        id=job_id, clerk_user_id=owner, job_type="portfolio_analysis", request_payload=payload
    )
    first = db.jobs.create_job(request)
    assert first.id == job_id
    assert first.request_payload == payload
    again = db.jobs.create_job(request)
    assert again == first
    assert count(db, Job) == 1


def test_the_same_job_id_with_other_content_is_already_exists(db: Database, owner: str) -> None:
    job_id = uuid.uuid4()
    db.jobs.create_job(JobCreate(id=job_id, clerk_user_id=owner, job_type="portfolio_analysis"))
    for other in (
        JobCreate(id=job_id, clerk_user_id=owner, job_type="risk_assessment"),
        JobCreate(
            id=job_id, clerk_user_id=owner, job_type="portfolio_analysis", request_payload={"a": 1}
        ),
    ):
        with pytest.raises(AlreadyExistsError, match=f"job {job_id} already exists"):
            db.jobs.create_job(other)
    assert count(db, Job) == 1


def test_a_retried_agent_log_is_recorded_once(db: Database, owner: str) -> None:
    job = db.jobs.create_job(JobCreate(clerk_user_id=owner, job_type="portfolio_analysis"))
    log_id = uuid.uuid4()
    entry = AgentLogCreate(id=log_id, job_id=job.id, agent_name="planner", input_tokens=120)
    first = db.agent_logs.record(entry)
    assert db.agent_logs.record(entry) == first
    with pytest.raises(AlreadyExistsError, match="agent log"):
        db.agent_logs.record(entry.model_copy(update={"input_tokens": 121}))
    assert [log.id for log in db.agent_logs.find_by_job(job.id)] == [log_id]


def test_without_an_id_each_create_is_a_new_row(db: Database, owner: str) -> None:
    request = JobCreate(clerk_user_id=owner, job_type="portfolio_analysis")
    assert db.jobs.create_job(request).id != db.jobs.create_job(request).id
    assert count(db, Job) == 2
