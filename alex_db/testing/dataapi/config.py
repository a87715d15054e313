"""Limits and timings of the emulator; every default is the service's (docs/data-api.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from alex_db.dataapi import limits

MIB = 1024 * 1024


@dataclass(frozen=True)
class EmulatorConfig:
    # A transaction with no call for this long is rolled back (BeginTransaction doc: 3 minutes).
    transaction_idle_timeout: float = 180.0
    # ...and any transaction this old (24 hours).
    transaction_max_lifetime: float = 24 * 3600.0
    # A call still running after this is cancelled, or left running with continueAfterTimeout.
    statement_timeout: float = 45.0
    max_response_bytes: int = limits.MAX_RESPONSE_BYTES
    max_formatted_records_bytes: int = 10 * MIB  # formatRecordsAs JSON
    max_sql_length: int = limits.MAX_SQL_LENGTH
    max_request_bytes: int = limits.MAX_REQUEST_BYTES  # the whole HTTP request, headers included
    # After a failed statement inside a transaction: "v2" leaves the transaction
    # open in PostgreSQL's aborted state until rollback (25P02 on each call);
    # "v1" ends it and later calls get "Transaction ... is not found".
    post_error_policy: Literal["v2", "v1"] = "v2"
    # The captured v2 error texts carry no "Detail:" part; switch it on to see it.
    include_error_detail: bool = False
    # Idle autocommit connections kept per database (each call still gets a clean session).
    idle_connections: int = 4
    # Serverless v2 auto-pause (docs/data-api.md §5.4), off by default: after this many seconds
    # without a call and with no open transaction the "instance" pauses, and the next
    # Execute/Batch/Begin fails with DatabaseResumingException, as do those within
    # `resume_duration` seconds after it.
    auto_pause_after: float | None = None
    resume_duration: float = 0.0
