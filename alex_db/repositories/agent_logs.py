"""agent_logs: one entry per agent run, for cost and latency tracking."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from alex_db.errors import translated
from alex_db.models import AgentLog
from alex_db.repositories.base import Repository, parse_uuid
from alex_db.schemas import AgentLogCreate, AgentLogRead


class AgentLogRepository(Repository):
    def record(self, log: AgentLogCreate, *, session: Session | None = None) -> AgentLogRead:
        """Append a log entry (an unknown job raises ``InvalidReferenceError``)."""
        with translated(key=log.job_id), self._autocommit(session) as s:
            row = log.to_orm()
            s.add(row)
            s.flush()
            return AgentLogRead.model_validate(row)

    def find_by_job(
        self, job_id: uuid.UUID | str, *, session: Session | None = None
    ) -> list[AgentLogRead]:
        """The job's log entries, oldest first."""
        key = parse_uuid(job_id, "job id")
        stmt = (
            select(AgentLog)
            .where(AgentLog.job_id == key)
            .order_by(AgentLog.created_at, AgentLog.id)
        )
        with translated(), self._autocommit(session) as s:
            return [AgentLogRead.model_validate(r) for r in s.scalars(stmt)]
