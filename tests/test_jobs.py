"""Jobs: the status machine, payload limits, and what concurrent workers and agents see."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from alex_db import (
    Database,
    InvalidInputError,
    InvalidReferenceError,
    InvalidStateTransitionError,
    NotFoundError,
    PayloadTooLargeError,
)
from alex_db.config import Settings
from alex_db.schemas import JobCreate, JobRead, JobUpdate, UserCreate


@pytest.fixture
def job(db: Database) -> JobRead:
    db.users.create_user(UserCreate(clerk_user_id="u"))
    return db.jobs.create_job(
        JobCreate(clerk_user_id="u", job_type="portfolio_analysis", request_payload={"q": 1})
    )


def test_create_and_find(db: Database, job: JobRead) -> None:
    assert job.status == "pending"
    assert job.started_at is None
    assert job.completed_at is None
    assert db.jobs.find_by_id(job.id) == job
    assert db.jobs.find_by_id(uuid.uuid4()) is None


def test_create_job_for_unknown_user_writes_nothing(db: Database) -> None:
    with pytest.raises(InvalidReferenceError, match="unknown user: ghost"):
        db.jobs.create_job(JobCreate(clerk_user_id="ghost", job_type="risk_assessment"))


def test_happy_path_sets_timestamps(db: Database, job: JobRead) -> None:
    running = db.jobs.start(job.id)
    assert running.status == "running"
    assert running.started_at is not None
    assert running.completed_at is None
    done = db.jobs.complete(job.id)
    assert done.status == "completed"
    assert done.completed_at is not None
    assert done.completed_at >= running.started_at


def test_fail_from_pending_and_from_running(db: Database, job: JobRead) -> None:
    failed = db.jobs.fail(job.id, "no prices")
    assert (failed.status, failed.error_message) == ("failed", "no prices")
    assert failed.completed_at is not None
    second = db.jobs.create_job(JobCreate(clerk_user_id="u", job_type="risk_assessment"))
    db.jobs.start(second.id)
    assert db.jobs.fail(second.id, "agent crashed").status == "failed"


ILLEGAL: list[tuple[list[str], str]] = [
    ([], "complete"),  # pending -> completed
    (["start"], "start"),  # running -> running
    (["start", "complete"], "start"),
    (["start", "complete"], "complete"),
    (["start", "complete"], "fail"),
    (["fail"], "start"),
    (["fail"], "complete"),
    (["fail"], "fail"),
]


@pytest.mark.parametrize(("before", "illegal"), ILLEGAL)
def test_illegal_transitions_raise_and_change_nothing(
    db: Database, job: JobRead, before: list[str], illegal: str
) -> None:
    for step in before:
        if step == "fail":
            db.jobs.fail(job.id, "x")
        else:
            getattr(db.jobs, step)(job.id)
    snapshot = db.jobs.find_by_id(job.id)
    assert snapshot is not None
    transition: Callable[..., Any] = getattr(db.jobs, illegal)
    args = (job.id, "again") if illegal == "fail" else (job.id,)
    with pytest.raises(InvalidStateTransitionError, match=f"is {snapshot.status}"):
        transition(*args)
    assert db.jobs.find_by_id(job.id) == snapshot


def test_transitions_of_unknown_jobs_are_not_found(db: Database) -> None:
    ghost = uuid.uuid4()
    for call in (db.jobs.start, db.jobs.complete, lambda j: db.jobs.fail(j, "x")):
        with pytest.raises(NotFoundError, match=f"job {ghost} not found"):
            call(ghost)


def test_update_status_compatibility(db: Database, job: JobRead) -> None:
    assert db.jobs.update_status(job.id, "running").status == "running"
    with pytest.raises(InvalidStateTransitionError, match="cannot become pending"):
        db.jobs.update_status(job.id, "pending")
    failed = db.jobs.update_status(job.id, "failed", error_message="timeout")
    assert (failed.status, failed.error_message) == ("failed", "timeout")
    with pytest.raises(InvalidInputError, match="job status"):
        db.jobs.update_status(job.id, "done")


def test_find_by_user_newest_first_with_status_and_limit(db: Database, job: JobRead) -> None:
    ids = [job.id]
    for _ in range(4):
        ids.append(db.jobs.create_job(JobCreate(clerk_user_id="u", job_type="tax_optimization")).id)
    # created_at is the transaction time; distinct real timestamps make the order observable
    with db.transaction() as tx:
        for offset, job_id in enumerate(ids):
            tx.session.execute(
                text(
                    "UPDATE jobs SET created_at = now() - make_interval(mins => CAST(:m AS integer)) WHERE id = :id"
                ),
                {"m": 10 - offset, "id": job_id},
            )
    listed = db.jobs.find_by_user("u")
    assert [j.id for j in listed] == list(reversed(ids))
    assert [j.id for j in db.jobs.find_by_user("u", limit=2)] == list(reversed(ids))[:2]
    db.jobs.start(ids[1])
    assert [j.id for j in db.jobs.find_by_user("u", status="running")] == [ids[1]]
    assert db.jobs.find_by_user("nobody") == []
    with pytest.raises(InvalidInputError):
        db.jobs.find_by_user("u", status="sleeping")
    with pytest.raises(InvalidInputError, match="limit"):
        db.jobs.find_by_user("u", limit=0)


def test_payload_updates_touch_only_their_column(db: Database, job: JobRead) -> None:
    db.jobs.update_report(job.id, {"markdown": "# r"})
    db.jobs.update_charts(job.id, {"charts": [1, 2]})
    db.jobs.update_retirement(job.id, {"success_rate": 0.87})
    db.jobs.update_summary(job.id, {"summary": "ok"})
    stored = db.jobs.find_by_id(job.id)
    assert stored is not None
    assert stored.request_payload == {"q": 1}
    assert stored.report_payload == {"markdown": "# r"}
    assert stored.charts_payload == {"charts": [1, 2]}
    assert stored.retirement_payload == {"success_rate": 0.87}
    assert stored.summary_payload == {"summary": "ok"}
    with pytest.raises(NotFoundError):
        db.jobs.update_charts(uuid.uuid4(), {"x": 1})


def test_job_update_applies_payloads_and_error_message(db: Database, job: JobRead) -> None:
    updated = db.jobs.update(job.id, JobUpdate(summary_payload={"a": 1}, error_message="note"))
    assert updated.summary_payload == {"a": 1}
    assert updated.request_payload == {"q": 1}
    assert updated.error_message == "note"
    assert updated.status == "pending"


def payload_of_size(size: int) -> dict[str, Any]:
    """A JSON object whose compact UTF-8 encoding is exactly ``size`` bytes."""
    overhead = len('{"data":""}')
    # multi-byte characters count as their UTF-8 bytes
    text = "é" * ((size - overhead) // 2) + "x" * ((size - overhead) % 2)
    return {"data": text}


def test_payload_limit_is_exact(alex_db_connection: Any) -> None:
    limit = 200 * 1024
    db = Database.for_connection(alex_db_connection)
    assert db.max_payload_bytes == limit
    db.users.create_user(UserCreate(clerk_user_id="u"))
    job = db.jobs.create_job(JobCreate(clerk_user_id="u", job_type="portfolio_analysis"))
    just_fits = payload_of_size(limit)
    db.jobs.update_report(job.id, just_fits)
    stored = db.jobs.find_by_id(job.id)
    assert stored is not None
    assert stored.report_payload == just_fits
    with pytest.raises(PayloadTooLargeError, match="204,801 bytes of JSON; the limit is 204,800"):
        db.jobs.update_charts(job.id, payload_of_size(limit + 1))
    with pytest.raises(PayloadTooLargeError):
        db.jobs.create_job(
            JobCreate(
                clerk_user_id="u",
                job_type="portfolio_analysis",
                request_payload=payload_of_size(limit + 1),
            )
        )
    with pytest.raises(PayloadTooLargeError):
        db.jobs.update(job.id, JobUpdate(summary_payload=payload_of_size(limit + 1)))
    after = db.jobs.find_by_id(job.id)
    assert after is not None
    assert after.charts_payload is None
    assert after.summary_payload is None
    assert len(db.jobs.find_by_user("u")) == 1


def test_payload_limit_is_configurable(alex_db_connection: Any) -> None:
    db = Database.for_connection(alex_db_connection, Settings(ALEX_DB_MAX_PAYLOAD_BYTES=100))
    db.users.create_user(UserCreate(clerk_user_id="u"))
    job = db.jobs.create_job(JobCreate(clerk_user_id="u", job_type="portfolio_analysis"))
    db.jobs.update_report(job.id, payload_of_size(100))
    with pytest.raises(PayloadTooLargeError):
        db.jobs.update_report(job.id, payload_of_size(101))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"x": float("nan")}, "not JSON-serialisable"),
        ({"x": object()}, "not JSON-serialisable"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_payload_must_be_a_json_object(
    db: Database, job: JobRead, payload: Any, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        db.jobs.update_report(job.id, payload)
    stored = db.jobs.find_by_id(job.id)
    assert stored is not None
    assert stored.report_payload is None


# --- concurrency: threads on real, separate connections ------------------------------------


def test_two_workers_racing_to_start_a_job_cannot_both_win(committed_db: Database) -> None:
    committed_db.users.create_user(UserCreate(clerk_user_id="racer"))
    for _ in range(20):
        job = committed_db.jobs.create_job(
            JobCreate(clerk_user_id="racer", job_type="risk_assessment")
        )
        barrier = threading.Barrier(4)

        def start(job_id: uuid.UUID = job.id, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            try:
                committed_db.jobs.start(job_id)
            except InvalidStateTransitionError:
                return "lost"
            return "won"

        with ThreadPoolExecutor(4) as pool:
            outcomes = sorted(pool.map(lambda _: start(), range(4)))
        assert outcomes == ["lost", "lost", "lost", "won"]


def test_agents_writing_payloads_at_once_never_lose_each_others_results(
    committed_db: Database,
) -> None:
    committed_db.users.create_user(UserCreate(clerk_user_id="agents"))
    writers = {
        "report": committed_db.jobs.update_report,
        "charts": committed_db.jobs.update_charts,
        "retirement": committed_db.jobs.update_retirement,
        "summary": committed_db.jobs.update_summary,
    }
    for round_ in range(15):
        job = committed_db.jobs.create_job(
            JobCreate(clerk_user_id="agents", job_type="portfolio_analysis")
        )
        committed_db.jobs.start(job.id)
        barrier = threading.Barrier(len(writers))

        def write(
            name: str,
            job_id: uuid.UUID = job.id,
            barrier: threading.Barrier = barrier,
            r: int = round_,
        ) -> None:
            barrier.wait()
            for step in range(5):
                writers[name](job_id, {"agent": name, "round": r, "step": step})

        with ThreadPoolExecutor(len(writers)) as pool:
            list(pool.map(write, writers))
        stored = committed_db.jobs.find_by_id(job.id)
        assert stored is not None
        assert stored.report_payload == {"agent": "report", "round": round_, "step": 4}
        assert stored.charts_payload == {"agent": "charts", "round": round_, "step": 4}
        assert stored.retirement_payload == {"agent": "retirement", "round": round_, "step": 4}
        assert stored.summary_payload == {"agent": "summary", "round": round_, "step": 4}
