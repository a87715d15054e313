"""Parameters: the Field union, typed string binding, typeHints, arrays (docs/data-api.md §2)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.dataapi.support import Api, error, param

UUID = "6f1d0b8e-2d8e-4a52-9a53-3c4cbb0c4b11"


@pytest.mark.parametrize(
    ("field", "pg_type", "text"),
    [
        ({"booleanValue": True}, "boolean", "true"),
        ({"longValue": 7}, "bigint", "7"),  # always bigint, even for small values
        ({"longValue": 2**63 - 1}, "bigint", str(2**63 - 1)),
        ({"doubleValue": 1.5}, "double precision", "1.5"),
        ({"stringValue": "hé"}, "character varying", "hé"),
        ({"blobValue": b"\x00\x01\xff"}, "bytea", "\\x0001ff"),
    ],
)
def test_field_member_binds_as(api: Api, field: dict[str, Any], pg_type: str, text: str) -> None:
    """§2.1/§2.2: each Field member reaches PostgreSQL with the type JDBC gives it."""
    response = api.execute("SELECT pg_typeof(:p)::text, :p::text", [param("p", **field)])
    assert response["records"] == [[{"stringValue": pg_type}, {"stringValue": text}]]


def test_null_is_untyped(api: Api) -> None:
    """§2.2: isNull is an untyped NULL: PostgreSQL infers its type from the context, or cannot."""
    assert api.value("SELECT :p", [param("p", isNull=True)]) == {"isNull": True}
    assert api.value("SELECT :p::int + 1", [param("p", isNull=True)]) == {"isNull": True}
    exc = api.execute_fails("SELECT pg_typeof(:p)", [param("p", isNull=True)])
    assert error(exc) == (
        "DatabaseErrorException",
        400,
        "ERROR: could not determine data type of parameter $1; SQLState: 42P18",
    )


def test_null_goes_into_any_column(api: Api, table: str) -> None:
    """§2.2: isNull is an untyped NULL, so it fits uuid, jsonb, date and enum columns alike."""
    null = {"isNull": True}
    api.execute(
        f"INSERT INTO {table} (uid, doc, day, feeling) VALUES (:u, :d, :day, :f)",
        [param("u", **null), param("d", **null), param("day", **null), param("f", **null)],
    )
    assert api.execute(f"SELECT uid, doc, day, feeling FROM {table}")["records"] == [[null] * 4]


@pytest.mark.parametrize(
    ("column", "pg_type", "value"),
    [
        ("uid", "uuid", UUID),
        ("doc", "jsonb", '{"a": 1}'),
        ("day", "date", "2024-01-31"),
        ("at", "timestamp without time zone", "2024-01-31 10:00:00"),
        ("amount", "numeric", "12.50"),
        ("feeling", "mood", "happy"),
    ],
)
def test_uncast_string_into_typed_column_fails(
    api: Api, table: str, column: str, pg_type: str, value: str
) -> None:
    """§2.2/§7: a bare stringValue is a typed varchar; PostgreSQL will not convert it implicitly."""
    exc = api.execute_fails(
        f"INSERT INTO {table} ({column}) VALUES (:v)", [param("v", stringValue=value)]
    )
    code, status, message = error(exc)
    assert (code, status) == ("DatabaseErrorException", 400)
    position = len(f"INSERT INTO {table} ({column}) VALUES (") + 1
    assert message == (
        f'ERROR: column "{column}" is of type {pg_type} but expression is of type character varying; '
        f"Hint: You will need to rewrite or cast the expression.; Position: {position}; SQLState: 42804"
    )


def test_uncast_string_compared_with_uuid_fails(api: Api, table: str) -> None:
    """§2.2: `uuid = character varying` has no operator (cloud-utils/aurora-data-api PR #11)."""
    exc = api.execute_fails(
        f"SELECT id FROM {table} WHERE uid = :u", [param("u", stringValue=UUID)]
    )
    message = error(exc)[2]
    assert message.startswith(
        "ERROR: operator does not exist: uuid = character varying; Hint: No operator matches"
    )
    assert message.endswith("SQLState: 42883")


def test_uuid_hint_compared_with_varchar_fails(api: Api, table: str) -> None:
    """§2.2: the converse, a UUID hint against a text column, fails too (jeremydaly/data-api-client#144)."""
    exc = api.execute_fails(
        f"SELECT id FROM {table} WHERE label = :u", [param("u", "UUID", stringValue=UUID)]
    )
    message = error(exc)[2]
    assert message.startswith("ERROR: operator does not exist: text = uuid;")
    assert message.endswith("SQLState: 42883")


def test_casts_in_sql_fix_typed_strings(api: Api, table: str) -> None:
    """§2.1/§2.2: `:p::jsonb` and CAST(:p AS uuid), the fixes clients use, work."""
    api.execute(
        f"INSERT INTO {table} (uid, doc, feeling) VALUES (CAST(:u AS uuid), :d::jsonb, :f::mood)",
        [
            param("u", stringValue=UUID),
            param("d", stringValue='{"b": [1, 2]}'),
            param("f", stringValue="sad"),
        ],
    )
    records = api.execute(f"SELECT uid, doc, feeling FROM {table}")["records"]
    assert records == [
        [{"stringValue": UUID}, {"stringValue": '{"b":[1,2]}'}, {"stringValue": "sad"}]
    ]


@pytest.mark.parametrize(
    ("hint", "value", "pg_type"),
    [
        ("DATE", "2024-02-29", "date"),
        ("TIME", "13:45:30.123", "time without time zone"),
        ("TIMESTAMP", "2024-02-29 13:45:30.123", "timestamp without time zone"),
        ("TIMESTAMP", "2024-02-29 13:45:30", "timestamp without time zone"),
        ("DECIMAL", "12345678901234567890.12", "numeric"),
        ("JSON", '{"a": [1, 2]}', "json"),
        ("UUID", UUID, "uuid"),
    ],
)
def test_type_hint_binds_as(api: Api, hint: str, value: str, pg_type: str) -> None:
    """§2.3: a typeHint sends the string as that SQL type."""
    assert api.value("SELECT pg_typeof(:p)::text", [param("p", hint, stringValue=value)]) == {
        "stringValue": pg_type
    }


def test_type_hints_fill_typed_columns(api: Api, table: str) -> None:
    """§2.3: with hints, strings go into date/time/numeric/json(b)/uuid columns without casts."""
    api.execute(
        f"INSERT INTO {table} (day, at, amount, doc, uid) VALUES (:day, :at, :amount, :doc, :uid)",
        [
            param("day", "DATE", stringValue="2024-02-29"),
            param("at", "TIMESTAMP", stringValue="2024-02-29 13:45:30.5"),
            param("amount", "DECIMAL", stringValue="12.5"),
            param("doc", "JSON", stringValue='{"z": 1, "a": 2}'),  # JSON hint into a jsonb column
            param("uid", "UUID", stringValue=UUID),
        ],
    )
    assert api.execute(f"SELECT day, at, amount, doc, uid FROM {table}")["records"] == [
        [
            {"stringValue": "2024-02-29"},
            {"stringValue": "2024-02-29 13:45:30.5"},
            {"stringValue": "12.50"},
            {"stringValue": '{"a":2,"z":1}'},
            {"stringValue": UUID},
        ]
    ]


@pytest.mark.parametrize(
    ("hint", "value"),
    [
        ("TIMESTAMP", "2024-02-29T13:45:30"),  # ISO "T" separator (§7)
        ("TIMESTAMP", "2024-02-29 13:45:30+00:00"),  # zone offset
        ("TIMESTAMP", "2024-02-29"),
        ("DATE", "2024-02-29 00:00:00"),
        ("DATE", "29/02/2024"),
        ("TIME", "13:45"),
    ],
)
def test_type_hint_outside_documented_format_is_rejected(api: Api, hint: str, value: str) -> None:
    """§2.3: DATE/TIME/TIMESTAMP strings must have the documented format."""
    code, status, message = error(
        api.execute_fails("SELECT :p", [param("p", hint, stringValue=value)])
    )
    assert (code, status) == ("ValidationException", 400)
    assert f"typeHint {hint}" in message


@pytest.mark.parametrize(
    ("hint", "value", "sqlstate"),
    [
        ("DECIMAL", "12,5", "22P02"),
        ("UUID", "not-a-uuid", "22P02"),
        ("JSON", "{oops", "22P02"),
        ("DATE", "2024-02-30", "22008"),
    ],
)
def test_type_hint_value_is_checked_by_postgres(
    api: Api, hint: str, value: str, sqlstate: str
) -> None:
    """§2.3: a hinted value PostgreSQL cannot read fails as a database error."""
    code, _, message = error(api.execute_fails("SELECT :p", [param("p", hint, stringValue=value)]))
    assert code == "DatabaseErrorException"
    assert message.startswith("ERROR: ")
    assert message.endswith(f"SQLState: {sqlstate}")


def test_type_hint_applies_only_to_strings(api: Api) -> None:
    """§2.1: typeHint qualifies stringValue only; a hinted longValue is still a bigint."""
    assert api.value("SELECT pg_typeof(:p)::text", [param("p", "DECIMAL", longValue=5)]) == {
        "stringValue": "bigint"
    }


def test_unknown_type_hint_is_rejected(api: Api) -> None:
    """§2.3: typeHint is an enum; botocore leaves the check to the server."""
    code, _, message = error(
        api.execute_fails("SELECT :p", [param("p", "INTERVAL", stringValue="1 day")])
    )
    assert code == "ValidationException"
    assert "enum value set: [DATE, TIME, TIMESTAMP, DECIMAL, JSON, UUID]" in message


@pytest.mark.parametrize(
    "array",
    [
        {"stringValues": ["a", "b"]},
        {"longValues": [1, 2]},
        {"arrayValues": [{"booleanValues": [True]}]},
    ],
)
def test_array_parameters_are_rejected(api: Api, array: dict[str, Any]) -> None:
    """§2.5: "Array parameters are not supported" (ExecuteStatement)."""
    exc = api.execute_fails("SELECT :p", [param("p", arrayValue=array)])
    assert error(exc) == ("ValidationException", 400, "Array parameters are not supported.")


def test_array_parameters_are_rejected_in_batches(api: Api, table: str) -> None:
    """§2.5: the same for BatchExecuteStatement.parameterSets."""
    exc = api.fails(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (label) VALUES (:p)",
        parameterSets=[
            [param("p", stringValue="a")],
            [param("p", arrayValue={"stringValues": ["x"]})],
        ],
    )
    assert error(exc) == ("ValidationException", 400, "Array parameters are not supported.")


def test_array_literal_string_workaround(api: Api) -> None:
    """§2.5: the documented workaround, a PostgreSQL array literal string cast in SQL."""
    assert api.value("SELECT CAST(:p AS text[])", [param("p", stringValue='{"a","b c"}')]) == {
        "arrayValue": {"stringValues": ["a", "b c"]}
    }


def test_named_placeholders(api: Api) -> None:
    """§2.1: `:name` placeholders, reused names, and casts right after them."""
    response = api.execute(
        "SELECT :a + :a AS twice, :b::int AS cast_int, ':a' AS literal, 1::text AS plain",
        [param("a", longValue=21), param("b", stringValue="7")],
    )
    assert response["records"] == [
        [{"longValue": 42}, {"longValue": 7}, {"stringValue": ":a"}, {"stringValue": "1"}]
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ':p' AS v",
        "SELECT E'\\':p' AS v",
        'SELECT 1 AS ":p"',
        "SELECT $$ :p $$ AS v",
        "SELECT $tag$ :p $tag$ AS v",
        "SELECT 1 AS v -- :p",
        "SELECT 1 AS v /* :p /* nested :q */ :r */",
    ],
)
def test_placeholders_are_not_seen_inside_quotes_or_comments(api: Api, sql: str) -> None:
    """§2.1: a `:name` inside a literal, identifier, dollar quote or comment is text, not a parameter."""
    response = api.execute(sql)
    assert len(response["records"]) == 1


def test_missing_parameter_value(api: Api) -> None:
    """§2.1 (unconfirmed): a placeholder without a parameter fails before reaching PostgreSQL."""
    code, status, message = error(api.execute_fails("SELECT :a, :b", [param("a", longValue=1)]))
    assert (code, status) == ("DatabaseErrorException", 400)
    assert message == 'ERROR: No value specified for parameter "b"; SQLState: 22023'


def test_unused_parameters_are_ignored(api: Api) -> None:
    """§2.1 (unconfirmed): parameters the SQL does not use are ignored."""
    assert api.value("SELECT 1", [param("unused", stringValue="x")]) == {"longValue": 1}


def test_percent_signs_need_no_escaping(api: Api) -> None:
    """§2.1: SQL text reaches PostgreSQL as written (no driver-specific % escaping)."""
    assert api.value("SELECT 'a%' || :p", [param("p", stringValue="%b")]) == {"stringValue": "a%%b"}


def test_blob_round_trip(api: Api, table: str, pg: psycopg.Connection[Any]) -> None:
    """§2.2/§3.1: blobValue goes in as bytea and comes back as blobValue (base64 on the wire)."""
    payload = bytes(range(256))
    api.execute(f"INSERT INTO {table} (data) VALUES (:d)", [param("d", blobValue=payload)])
    row = pg.execute(f"SELECT data FROM {table}").fetchone()
    assert row is not None
    assert row[0] == payload
    assert api.value(f"SELECT data FROM {table}") == {"blobValue": payload}


def test_long_value_needs_a_cast_for_integer_arguments(api: Api) -> None:
    """§2.2: longValue is a bigint, and PostgreSQL has no implicit bigint -> integer cast for
    function arguments (assignment to an integer column is fine)."""
    exc = api.execute_fails("SELECT repeat('ab', :n)", [param("n", longValue=2)])
    assert error(exc)[2].startswith("ERROR: function repeat(unknown, bigint) does not exist;")
    assert api.value("SELECT repeat('ab', :n::int)", [param("n", longValue=2)]) == {
        "stringValue": "abab"
    }
