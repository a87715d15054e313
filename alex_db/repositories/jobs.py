"""jobs: analysis requests, their status machine and the agents' payloads.

Status machine: pending -> running -> completed | failed, and pending -> failed.
Each transition is one conditional UPDATE (``WHERE status IN (allowed sources)``),
so two workers racing to start the same job cannot both win. Each payload update
writes only its own column, so agents writing at the same moment never lose
each other's results.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, String, cast, func, insert, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from alex_db.errors import (
    InvalidInputError,
    InvalidStateTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    translated,
)
from alex_db.models import Job
from alex_db.repositories.base import NO_SYNC, Repository, fetch_by_key, parse_uuid, validate
from alex_db.schemas import JobCreate, JobRead, JobUpdate
from alex_db.vocabulary import JobStatus

STATUS = TypeAdapter(JobStatus)
# Jobs per Data API page: a job row with every payload at its limit is about 1 MiB,
# so pages start small and halve when a response would be too large.
PAGE_SIZE = 4

# target status -> the statuses it may be reached from
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "running": ("pending",),
    "completed": ("running",),
    "failed": ("pending", "running"),
    "pending": (),  # nothing goes back to pending
}

PAYLOAD_COLUMNS = (
    "request_payload",
    "report_payload",
    "charts_payload",
    "retirement_payload",
    "summary_payload",
)


def encode_payload(column: str, payload: Any, limit: int) -> str:
    """Compact JSON text of ``payload``, or a typed error if it is not JSON or too large."""
    if not isinstance(payload, dict):
        raise InvalidInputError(f"{column} must be a JSON object, got {type(payload).__name__}")
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{column} is not JSON-serialisable: {exc}") from None
    size = len(text.encode("utf-8"))
    if size > limit:
        raise PayloadTooLargeError(column, size, limit)
    return text


def json_value(text: str) -> ColumnElement[Any]:
    """Already-encoded JSON text as a jsonb value: cast in SQL, never serialised twice."""
    return cast(literal(text, String), JSONB)


class JobRepository(Repository):
    def create_job(self, job: JobCreate, *, session: Session | None = None) -> JobRead:
        values: dict[str, Any] = job.model_dump()
        if job.request_payload is not None:
            text = encode_payload(
                "request_payload", job.request_payload, self._db.max_payload_bytes
            )
            values["request_payload"] = json_value(text)
        stmt = insert(Job).values(**values).returning(Job)
        with translated(key=job.clerk_user_id), self._autocommit(session) as s:
            return JobRead.model_validate(s.scalars(stmt).one())

    def find_by_id(
        self, job_id: uuid.UUID | str, *, session: Session | None = None
    ) -> JobRead | None:
        key = parse_uuid(job_id, "job id")
        with translated(), self._autocommit(session) as s:
            row = s.get(Job, key)
            return None if row is None else JobRead.model_validate(row)

    def find_by_user(
        self,
        clerk_user_id: str,
        status: str | None = None,
        limit: int = 20,
        *,
        session: Session | None = None,
    ) -> list[JobRead]:
        """The user's most recent jobs, newest first, optionally of one status."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}")
        stmt = select(Job).where(Job.clerk_user_id == clerk_user_id)
        if status is not None:
            stmt = stmt.where(Job.status == validate(STATUS, status, "job status"))
        stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc())
        with translated(), self._autocommit(session) as s:
            rows = fetch_by_key(
                s,
                stmt,
                lambda last: tuple_(Job.created_at, Job.id) < tuple_(last.created_at, last.id),
                page_size=PAGE_SIZE,
                limit=limit,
            )
            return [JobRead.model_validate(r) for r in rows]

    def update(
        self, job_id: uuid.UUID | str, changes: JobUpdate, *, session: Session | None = None
    ) -> JobRead:
        """Set payloads and the error message (status changes use the transitions)."""
        key = parse_uuid(job_id, "job id")
        values: dict[str, Any] = changes.changes()
        for column in PAYLOAD_COLUMNS:
            if values.get(column) is not None:
                text = encode_payload(column, values[column], self._db.max_payload_bytes)
                values[column] = json_value(text)
        with translated(key=key), self._autocommit(session) as s:
            return JobRead.model_validate(
                self._update_one(s, Job, Job.id == key, values, entity="job", key=key)
            )

    def delete(self, job_id: uuid.UUID | str, *, session: Session | None = None) -> None:
        key = parse_uuid(job_id, "job id")
        with translated(key=key), self._autocommit(session) as s:
            self._delete_one(s, Job, Job.id == key, "job", key)

    # --- the status machine -----------------------------------------------------

    def start(self, job_id: uuid.UUID | str, *, session: Session | None = None) -> JobRead:
        """pending -> running; sets ``started_at``. Of two racing workers exactly one wins;
        the other gets ``InvalidStateTransitionError``."""
        return self._transition(job_id, "running", session=session)

    def complete(self, job_id: uuid.UUID | str, *, session: Session | None = None) -> JobRead:
        """running -> completed; sets ``completed_at``."""
        return self._transition(job_id, "completed", session=session)

    def fail(
        self, job_id: uuid.UUID | str, error_message: str, *, session: Session | None = None
    ) -> JobRead:
        """pending or running -> failed; records the error and ``completed_at``."""
        return self._transition(job_id, "failed", error_message=error_message, session=session)

    def update_status(
        self,
        job_id: uuid.UUID | str,
        status: str,
        error_message: str | None = None,
        *,
        session: Session | None = None,
    ) -> JobRead:
        """Compatibility with the services' older call: the same transitions by name."""
        target = validate(STATUS, status, "job status")
        if target == "failed":
            return self.fail(job_id, error_message or "failed", session=session)
        return self._transition(job_id, target, session=session)

    def _transition(
        self,
        job_id: uuid.UUID | str,
        target: str,
        *,
        error_message: str | None = None,
        session: Session | None = None,
    ) -> JobRead:
        key = parse_uuid(job_id, "job id")
        values: dict[str, Any] = {"status": target}
        if target == "running":
            values["started_at"] = func.now()
        elif target != "pending":
            values["completed_at"] = func.now()
        if target == "failed":
            values["error_message"] = error_message
        stmt = (
            update(Job)
            .where(Job.id == key, Job.status.in_(ALLOWED_FROM[target]))
            .values(**values)
            .returning(Job)
        )
        with translated(key=key), self._autocommit(session) as s:
            row = s.scalars(stmt, execution_options=NO_SYNC).one_or_none()
            if row is None:
                current = s.scalar(select(Job.status).where(Job.id == key))
                if current is None:
                    raise NotFoundError("job", key)
                raise InvalidStateTransitionError(key, current, target)
            return JobRead.model_validate(row)

    # --- the agents' payloads ------------------------------------------------------

    def update_report(
        self, job_id: uuid.UUID | str, payload: dict[str, Any], *, session: Session | None = None
    ) -> None:
        """The Reporter's result."""
        self._set_payload(job_id, "report_payload", payload, session)

    def update_charts(
        self, job_id: uuid.UUID | str, payload: dict[str, Any], *, session: Session | None = None
    ) -> None:
        """The Charter's result."""
        self._set_payload(job_id, "charts_payload", payload, session)

    def update_retirement(
        self, job_id: uuid.UUID | str, payload: dict[str, Any], *, session: Session | None = None
    ) -> None:
        """The Retirement agent's result."""
        self._set_payload(job_id, "retirement_payload", payload, session)

    def update_summary(
        self, job_id: uuid.UUID | str, payload: dict[str, Any], *, session: Session | None = None
    ) -> None:
        """The Planner's summary."""
        self._set_payload(job_id, "summary_payload", payload, session)

    def _set_payload(
        self, job_id: uuid.UUID | str, column: str, payload: Any, session: Session | None
    ) -> None:
        key = parse_uuid(job_id, "job id")
        text = encode_payload(column, payload, self._db.max_payload_bytes)
        # Only this column is written: concurrent agents never overwrite each other.
        stmt = update(Job).where(Job.id == key).values({column: json_value(text)}).returning(Job.id)
        with translated(key=key), self._autocommit(session) as s:
            if s.execute(stmt, execution_options=NO_SYNC).first() is None:
                raise NotFoundError("job", key)
