"""The RDS Data API's limits, defined once: the driver, the dialect and the backend
capabilities (:mod:`alex_db.backend`) all read them from here. The figures are the
service's documented quotas (see the README's Data API section)."""

from __future__ import annotations

MAX_SQL_LENGTH = 65_536
"""Characters in one statement's SQL; longer statements are refused."""

MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""One request, parameters included."""

MAX_RESPONSE_BYTES = 1024 * 1024
"""One response's records; a larger result fails (it is not truncated)."""

# A multi-row INSERT .. VALUES renders every row's parameters into the SQL text: with
# the casts the dialect adds, a bound value costs up to about 48 characters, and the
# statement's own text (column list, ON CONFLICT, RETURNING) needs room too.
_CHARS_PER_VALUE = 48
_STATEMENT_HEADROOM = 4096


def rows_per_insert(columns: int) -> int:
    """How many rows of ``columns`` bound values one multi-row INSERT may carry."""
    return max(1, (MAX_SQL_LENGTH - _STATEMENT_HEADROOM) // (_CHARS_PER_VALUE * columns))
