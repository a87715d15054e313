"""agent_logs: one entry per agent run, for cost and latency tracking."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select

from alex_db.models import AgentLog
from alex_db.repositories.base import (
    Repository,
    create_once,
    parse_uuid,
    read_model,
    read_models,
    schema_arg,
    table_of,
)
from alex_db.schemas import AgentLogCreate, AgentLogRead

AGENT_LOGS = table_of(AgentLog)
_INSERT = insert(AGENT_LOGS).returning(*AGENT_LOGS.c)


class AgentLogRepository(Repository):
    def record(self, log: AgentLogCreate) -> AgentLogRead:
        """Append a log entry (an unknown job raises ``InvalidReferenceError``)."""
        log = schema_arg(log, AgentLogCreate, "log")
        values = log.model_dump(exclude_none=True)
        with self._write(key=log.job_id) as ex:
            if log.id is None:
                row = ex.execute(_INSERT, values).one()
            else:
                fields = log.model_dump(exclude={"id"})
                row = create_once(
                    ex,
                    AGENT_LOGS,
                    values,
                    key=log.id,
                    entity="agent log",
                    same=lambda existing: all(getattr(existing, k) == v for k, v in fields.items()),
                )
        return read_model(AgentLogRead, row)

    def find_by_job(self, job_id: uuid.UUID | str) -> list[AgentLogRead]:
        """The job's log entries, oldest first."""
        key = parse_uuid(job_id, "job id")
        stmt = (
            select(AGENT_LOGS)
            .where(AGENT_LOGS.c.job_id == key)
            .order_by(AGENT_LOGS.c.created_at, AGENT_LOGS.c.id)
        )
        with self._read() as ex:
            found = ex.execute(stmt).all()
        return read_models(AgentLogRead, found)
