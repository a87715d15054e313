"""jobs: analysis requests, their status machine and the agents' payloads.

Status machine: pending -> running -> completed | failed, and pending -> failed.
Each transition is one conditional UPDATE (``WHERE status IN (allowed sources)``),
so two workers racing to start the same job cannot both win. Each payload update
writes only its own column, so agents writing at the same moment never lose
each other's results.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

from alex_db.errors import (
    InvalidInputError,
    InvalidStateTransitionError,
    NotFoundError,
    PayloadTooLargeError,
)
from alex_db.models import Job
from alex_db.repositories.base import (
    Executor,
    Repository,
    count_arg,
    create_once,
    delete_one,
    fetch_by_key,
    is_too_large,
    parse_uuid,
    read_model,
    read_models,
    schema_arg,
    table_of,
    user_key,
    validate,
)
from alex_db.schemas import (
    MAX_JSON_DEPTH,
    ErrorMessage,
    JobCreate,
    JobRead,
    JobUpdate,
)
from alex_db.vocabulary import JobStatus

STATUS = TypeAdapter(JobStatus)
ERROR_MESSAGE = TypeAdapter(ErrorMessage)
JOBS = table_of(Job)
_BY_ID = select(JOBS).where(JOBS.c.id == bindparam("key"))

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


# A NUL character as JSON writes it (\u0000 after an even number of backslashes):
# jsonb cannot store it (PostgreSQL text never holds NUL).
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_depth(value: object, stop_after: int) -> int:
    """How deeply objects and arrays nest in ``value`` (iterative, so a payload nested
    far beyond Python's recursion limit is measured too), counting no further than
    ``stop_after + 1``."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > stop_after:
            break
        pending.extend((child, depth + 1) for child in children)
    return deepest


def encode_payload(column: str, payload: Any, limit: int) -> str:
    """Compact JSON text of ``payload``, or a typed error if it is not JSON or too large."""
    if not isinstance(payload, dict):
        raise InvalidInputError(f"{column} must be a JSON object, got {type(payload).__name__}")
    if (depth := json_depth(payload, MAX_JSON_DEPTH)) > MAX_JSON_DEPTH:
        raise InvalidInputError(
            f"{column} is nested more than {MAX_JSON_DEPTH} deep (the limit); at least {depth}"
        )
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{column} is not JSON-serialisable: {exc}") from None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{column} contains text that is not valid Unicode (a lone surrogate?)"
        ) from None
    if size > limit:
        raise PayloadTooLargeError(column, size, limit)
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise InvalidInputError(f"{column} contains a NUL character, which jsonb cannot store")
    return text


def json_value(text: str) -> ColumnElement[Any]:
    """Already-encoded JSON text as a jsonb value: cast in SQL, never serialised twice."""
    return cast(literal(text, String), JSONB)


_OTHER_COLUMNS = [c for c in JOBS.c if c.name not in PAYLOAD_COLUMNS]


class _JobInParts(dict[str, Any]):
    """A job read in parts, usable where a result row is (by attribute and mapping)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return self


def _job_in_parts(ex: Executor, key: uuid.UUID) -> _JobInParts | None:
    """The job read one payload column per statement: for a backend whose response
    size is bounded, when the whole row does not fit in one response."""
    head = ex.execute(select(*_OTHER_COLUMNS).where(JOBS.c.id == key)).first()
    if head is None:
        return None
    job = _JobInParts(head._mapping)
    for column in PAYLOAD_COLUMNS:
        job[column] = ex.scalar(select(JOBS.c[column]).where(JOBS.c.id == key))
    return job


def _first_in_parts(ex: Executor, stmt: Select[Any]) -> _JobInParts | None:
    """The first job a page statement selects, read in parts (it is too large whole)."""
    first = ex.execute(stmt.with_only_columns(JOBS.c.id).limit(1)).first()
    if first is None:
        return None
    return _job_in_parts(ex, first.id)


def _job_row(
    ex: Executor, stmt: Executable, key: uuid.UUID, params: dict[str, Any] | None = None
) -> Any:
    """Run a statement that selects or returns one whole job row. When the row is too
    large for one response the statement has still run (a write is done), so the job
    is read back in parts instead of reporting a failure."""
    try:
        row = ex.execute(stmt, params).first()
    except DBAPIError as exc:
        if not is_too_large(exc):
            raise
        return _job_in_parts(ex, key)
    return None if row is None else row._mapping


# Prebuilt statements. Payloads arrive as JSON text already encoded (and size-checked)
# by encode_payload, and are cast to jsonb in SQL: never serialised twice.
_PAYLOAD_JSON = cast(bindparam("payload_json", type_=String), JSONB)
_INSERT = insert(JOBS).returning(*JOBS.c)
_INSERT_WITH_REQUEST = insert(JOBS).values(request_payload=_PAYLOAD_JSON).returning(*JOBS.c)
_SET_PAYLOAD = {
    column: update(JOBS)
    .where(JOBS.c.id == bindparam("key"))
    .values({column: _PAYLOAD_JSON})
    .returning(*JOBS.c)
    for column in PAYLOAD_COLUMNS
}


class JobRepository(Repository):
    def create_job(self, job: JobCreate) -> JobRead:
        job = schema_arg(job, JobCreate, "job")
        values: dict[str, Any] = job.model_dump(exclude_none=True)
        stmt = _INSERT
        if job.request_payload is not None:
            stmt = _INSERT_WITH_REQUEST
            del values["request_payload"]
            values["payload_json"] = encode_payload(
                "request_payload", job.request_payload, self._db.max_payload_bytes
            )
        with self._write(key=job.clerk_user_id) as ex:
            if job.id is None:
                row = ex.execute(stmt, values).one()
            else:
                sent = None if job.request_payload is None else json.loads(values["payload_json"])

                def same(existing: Row[Any]) -> bool:
                    return bool(
                        existing.clerk_user_id == job.clerk_user_id
                        and existing.job_type == job.job_type
                        and existing.request_payload == sent
                    )

                row = create_once(
                    ex,
                    JOBS,
                    values,
                    key=job.id,
                    entity="job",
                    same=same,
                    insert_values=None if sent is None else {"request_payload": _PAYLOAD_JSON},
                )
        return read_model(JobRead, row)

    def find_by_id(self, job_id: uuid.UUID | str) -> JobRead | None:
        key = parse_uuid(job_id, "job id")
        with self._read() as ex:
            row = _job_row(ex, _BY_ID, key, {"key": key})
        return None if row is None else JobRead.model_validate(row)

    def find_by_user(
        self, clerk_user_id: str, status: str | None = None, limit: int = 20
    ) -> list[JobRead]:
        """The user's most recent jobs, newest first, optionally of one status."""
        clerk_user_id = user_key(clerk_user_id)
        limit = count_arg(limit, "limit")
        stmt = select(JOBS).where(JOBS.c.clerk_user_id == clerk_user_id)
        if status is not None:
            stmt = stmt.where(JOBS.c.status == validate(STATUS, status, "job status"))
        stmt = stmt.order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc())
        newest_first = tuple_(JOBS.c.created_at, JOBS.c.id)
        with self._read() as ex:
            found = fetch_by_key(
                ex,
                stmt,
                lambda last: newest_first < tuple_(last.created_at, last.id),
                page_rows=self._capabilities.page_rows("jobs"),
                limit=limit,
                one_in_parts=lambda page: _first_in_parts(ex, page),
            )
        return read_models(JobRead, found)

    def update(self, job_id: uuid.UUID | str, changes: JobUpdate) -> JobRead:
        """Set payloads and the error message (status changes use the transitions)."""
        key = parse_uuid(job_id, "job id")
        values: dict[str, Any] = schema_arg(changes, JobUpdate, "changes").changes()
        for column in PAYLOAD_COLUMNS:
            if values.get(column) is not None:
                text = encode_payload(column, values[column], self._db.max_payload_bytes)
                values[column] = json_value(text)
        return self._update(key, values)

    def _update(self, key: uuid.UUID, values: dict[str, Any]) -> JobRead:
        stmt = (
            update(JOBS).where(JOBS.c.id == bindparam("key")).values(**values).returning(*JOBS.c)
            if values
            else _BY_ID
        )
        with self._write(key=key) as ex:
            row = _job_row(ex, stmt, key, {"key": key})
        if row is None:
            raise NotFoundError("job", key)
        return JobRead.model_validate(row)

    def delete(self, job_id: uuid.UUID | str) -> None:
        key = parse_uuid(job_id, "job id")
        with self._write(key=key) as ex:
            delete_one(ex, JOBS, JOBS.c.id == key, "job", key)

    # --- the status machine -----------------------------------------------------

    def start(self, job_id: uuid.UUID | str) -> JobRead:
        """pending -> running; sets ``started_at``. Of two racing workers exactly one wins;
        the other gets ``InvalidStateTransitionError``."""
        return self._transition(job_id, "running")

    def complete(self, job_id: uuid.UUID | str) -> JobRead:
        """running -> completed; sets ``completed_at``."""
        return self._transition(job_id, "completed")

    def fail(self, job_id: uuid.UUID | str, error_message: str) -> JobRead:
        """pending or running -> failed; records the error and ``completed_at``."""
        error_message = validate(ERROR_MESSAGE, error_message, "error_message")
        return self._transition(job_id, "failed", error_message=error_message)

    def update_status(
        self, job_id: uuid.UUID | str, status: str, error_message: str | None = None
    ) -> JobRead:
        """Compatibility with the services' older call: the same transitions by name."""
        target = validate(STATUS, status, "job status")
        if target == "failed":
            return self.fail(job_id, error_message or "failed")
        return self._transition(job_id, target)

    def _transition(
        self, job_id: uuid.UUID | str, target: str, *, error_message: str | None = None
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
            update(JOBS)
            .where(JOBS.c.id == key, JOBS.c.status.in_(ALLOWED_FROM[target]))
            .values(**values)
            .returning(*JOBS.c)
        )
        with self._write(key=key) as ex:
            row = _job_row(ex, stmt, key)
            if row is None:
                current = ex.scalar(select(JOBS.c.status).where(JOBS.c.id == key))
                if current is None:
                    raise NotFoundError("job", key)
                raise InvalidStateTransitionError(key, current, target)
        return JobRead.model_validate(row)

    # --- the agents' payloads ------------------------------------------------------

    def update_report(self, job_id: uuid.UUID | str, payload: dict[str, Any]) -> JobRead:
        """The Reporter's result; returns the updated job."""
        return self._set_payload(job_id, "report_payload", payload)

    def update_charts(self, job_id: uuid.UUID | str, payload: dict[str, Any]) -> JobRead:
        """The Charter's result; returns the updated job."""
        return self._set_payload(job_id, "charts_payload", payload)

    def update_retirement(self, job_id: uuid.UUID | str, payload: dict[str, Any]) -> JobRead:
        """The Retirement agent's result; returns the updated job."""
        return self._set_payload(job_id, "retirement_payload", payload)

    def update_summary(self, job_id: uuid.UUID | str, payload: dict[str, Any]) -> JobRead:
        """The Planner's summary; returns the updated job."""
        return self._set_payload(job_id, "summary_payload", payload)

    def _set_payload(self, job_id: uuid.UUID | str, column: str, payload: Any) -> JobRead:
        key = parse_uuid(job_id, "job id")
        text = encode_payload(column, payload, self._db.max_payload_bytes)
        # Only this column is written: concurrent agents never overwrite each other.
        with self._write(key=key) as ex:
            row = _job_row(ex, _SET_PAYLOAD[column], key, {"key": key, "payload_json": text})
        if row is None:
            raise NotFoundError("job", key)
        return JobRead.model_validate(row)
