"""Scan the ``sql`` of a request: one statement only, ``:name`` placeholders to ``$n``.

The scanner knows PostgreSQL's lexical rules that matter here: single-quoted
strings (with ``''`` and, in ``E''`` strings, backslash escapes), quoted
identifiers, dollar quoting, ``--`` and nested ``/* */`` comments, and ``::``
casts. A ``;`` inside any of those does not end the statement, and a
``:name`` inside them is not a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_BLANK = " \t\r\n\f\v"
_SPECIAL = _BLANK + "-/;'\"$:"

# Token kinds
BLANK, COMMENT, SEMICOLON, CODE, PLACEHOLDER = "blank", "comment", ";", "code", "placeholder"


class MultipleStatementsError(ValueError):
    """The text holds more than one statement."""


@dataclass(frozen=True)
class _Replacement:
    pg_start: int  # 0-based index of ``$n`` in the text sent to PostgreSQL
    pg_length: int
    original_start: int  # 0-based index of ``:name`` in the client's text
    original_length: int


@dataclass(frozen=True)
class ParsedSql:
    text: str  # the statement with ``$1``, ``$2``... as sent to PostgreSQL
    names: tuple[str, ...]  # the parameter name behind ``$1``, ``$2``...
    replacements: tuple[_Replacement, ...]

    def original_position(self, pg_position: int) -> int:
        """Map a PostgreSQL error position (1-based, in the ``$n`` text) to the client's text."""
        index = pg_position - 1
        delta = 0
        for rep in self.replacements:
            if index < rep.pg_start:
                break
            if index < rep.pg_start + rep.pg_length:
                return rep.original_start + 1
            delta += rep.original_length - rep.pg_length
        return index + delta + 1


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _quoted_end(sql: str, start: int, quote: str, *, backslash: bool) -> int:
    """Index just past the literal or identifier opening at ``start`` (or len(sql))."""
    i = start + 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
        elif ch != quote:
            i += 1
        elif i + 1 < n and sql[i + 1] == quote:  # a doubled quote is an escaped quote
            i += 2
        else:
            return i + 1
    return n


def _block_comment_end(sql: str, start: int) -> int:
    depth = 0
    i = start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(sql)


def _token_end(sql: str, i: int) -> tuple[str, int]:  # noqa: PLR0911 - a return per token kind
    """The kind and end index of the token starting at ``i``."""
    ch = sql[i]
    if ch in _BLANK:
        return BLANK, i + 1
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return COMMENT, len(sql) if end < 0 else end
    if sql.startswith("/*", i):
        return COMMENT, _block_comment_end(sql, i)
    if ch == ";":
        return SEMICOLON, i + 1
    if ch == "'":
        escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _is_ident_char(sql[i - 2]))
        return CODE, _quoted_end(sql, i, "'", backslash=escapes)
    if ch == '"':
        return CODE, _quoted_end(sql, i, '"', backslash=False)
    if ch == "$" and (i == 0 or not _is_ident_char(sql[i - 1])):
        tag = _DOLLAR_TAG.match(sql, i)
        if tag is not None:
            close = sql.find(tag.group(), tag.end())
            return CODE, len(sql) if close < 0 else close + len(tag.group())
    if ch == ":":
        if sql.startswith("::", i):
            return CODE, i + 2
        name = _NAME.match(sql, i + 1)
        if name is not None:
            return PLACEHOLDER, name.end()
    end = i + 1  # a run of ordinary characters
    while end < len(sql) and sql[end] not in _SPECIAL:
        end += 1
    return CODE, end


def tokens(sql: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of each token of ``sql``."""
    i = 0
    while i < len(sql):
        kind, end = _token_end(sql, i)
        yield kind, i, end
        i = end


def parse(sql: str) -> ParsedSql:
    """Check that ``sql`` is one statement and turn its ``:name`` placeholders into ``$n``.

    A trailing ``;`` (and blanks or comments after it) is allowed, as on the service.
    """
    out: list[str] = []
    names: list[str] = []
    numbers: dict[str, int] = {}
    replacements: list[_Replacement] = []
    pg_length = 0
    ended = False
    for kind, start, end in tokens(sql):
        chunk = sql[start:end]
        if kind == SEMICOLON:
            ended = True
        elif kind in (CODE, PLACEHOLDER) and ended:
            raise MultipleStatementsError
        if kind == PLACEHOLDER:
            name = chunk[1:]
            if name not in numbers:
                names.append(name)
                numbers[name] = len(names)
            chunk = f"${numbers[name]}"
            replacements.append(_Replacement(pg_length, len(chunk), start, end - start))
        out.append(chunk)
        pg_length += len(chunk)
    return ParsedSql("".join(out), tuple(names), tuple(replacements))
