"""Results: Field mapping and text formats, columnMetadata, counts, JSON records (docs/data-api.md §3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dataapi.support import Api, error, make_client, param

UUID = "6f1d0b8e-2d8e-4a52-9a53-3c4cbb0c4b11"


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("NULL::int", {"isNull": True}),
        ("NULL::uuid", {"isNull": True}),
        ("true", {"booleanValue": True}),
        ("false", {"booleanValue": False}),
        ("7::int2", {"longValue": 7}),
        ("-7::int4", {"longValue": -7}),
        ("9223372036854775807::int8", {"longValue": 9223372036854775807}),
        ("1.5::float8", {"doubleValue": 1.5}),
        ("0.25::float4", {"doubleValue": 0.25}),
        ("'12.50'::numeric(10,2)", {"stringValue": "12.50"}),
        (
            "123456789012345678901234567890.123::numeric",
            {"stringValue": "123456789012345678901234567890.123"},
        ),
        ("'abc'::text", {"stringValue": "abc"}),
        ("'abc'::varchar(10)", {"stringValue": "abc"}),
        ("'ab'::char(4)", {"stringValue": "ab  "}),
        ("'abc'::name", {"stringValue": "abc"}),
        (f"'{UUID}'::uuid", {"stringValue": UUID}),
        (
            """'{"x": 0, "y": "0", "z": [0, 0, 1]}'::json""",
            {"stringValue": '{"x":0,"y":"0","z":[0,0,1]}'},
        ),
        ("""'{"b": 1,  "a": "é"}'::jsonb""", {"stringValue": '{"a":"é","b":1}'}),
        ("'2024-01-31'::date", {"stringValue": "2024-01-31"}),
        ("'13:45:30'::time", {"stringValue": "13:45:30"}),
        ("'13:45:30.120'::time", {"stringValue": "13:45:30.12"}),
        ("'2021-03-03 08:31:15.077000'::timestamp", {"stringValue": "2021-03-03 08:31:15.077"}),
        ("'2021-03-03 08:31:15.318690'::timestamp", {"stringValue": "2021-03-03 08:31:15.31869"}),
        ("'2021-03-03 08:31:15.000'::timestamp", {"stringValue": "2021-03-03 08:31:15"}),
        ("'2021-03-03 08:31:15.5-08:00'::timestamptz", {"stringValue": "2021-03-03 16:31:15.5"}),
        ("'2021-03-03 23:00:00+05:30'::timestamptz", {"stringValue": "2021-03-03 17:30:00"}),
        ("'\\x00ff'::bytea", {"blobValue": b"\x00\xff"}),
        ("'192.168.0.1/24'::inet", {"stringValue": "192.168.0.1/24"}),
        ("'10.0.0.0/8'::cidr", {"stringValue": "10.0.0.0/8"}),
        ("'happy'::mood", {"stringValue": "happy"}),
        ("pg_sleep(0)", {"stringValue": ""}),  # void (unconfirmed)
    ],
)
def test_scalar_result_fields(api: Api, expression: str, field: dict[str, Any]) -> None:
    """§3.1: each supported PostgreSQL type comes back as the documented Field member and format."""
    assert api.value(f"SELECT {expression}") == field


def test_timestamptz_is_utc_even_after_set_time_zone(api: Api) -> None:
    """§3.1/§7: timestamptz is converted to UTC and printed without an offset, whatever the session zone."""
    transaction_id = api.begin()
    api.execute("SET TIME ZONE 'America/Los_Angeles'", transactionId=transaction_id)
    value = api.value(
        "SELECT '2021-03-03 08:31:15.5+00'::timestamptz", transactionId=transaction_id
    )
    api.rollback(transaction_id)
    assert value == {"stringValue": "2021-03-03 08:31:15.5"}


@pytest.mark.parametrize(
    ("expression", "array"),
    [
        ("ARRAY[1, NULL, 3]::int4[]", {"longValues": [1, None, 3]}),
        ("ARRAY[1, 2]::int2[]", {"longValues": [1, 2]}),
        ("ARRAY[1, 2]::int8[]", {"longValues": [1, 2]}),
        ("ARRAY[1.5, NULL]::float8[]", {"doubleValues": [1.5, None]}),
        ("ARRAY[0.5]::float4[]", {"doubleValues": [0.5]}),
        ("ARRAY[true, false]", {"booleanValues": [True, False]}),
        ("ARRAY[B'1', B'0']", {"booleanValues": [True, False]}),
        (
            "ARRAY['a', 'b,c', 'd\"e', NULL, 'NULL', '']::text[]",
            {"stringValues": ["a", "b,c", 'd"e', None, "NULL", ""]},
        ),
        ("ARRAY['x']::varchar[]", {"stringValues": ["x"]}),
        ("ARRAY['1.50']::numeric[]", {"stringValues": ["1.50"]}),
        ("ARRAY['2024-01-31']::date[]", {"stringValues": ["2024-01-31"]}),
        (
            "ARRAY['2024-01-31 10:00:00.50']::timestamp[]",
            {"stringValues": ["2024-01-31 10:00:00.5"]},
        ),
        ("ARRAY['10:00:00']::time[]", {"stringValues": ["10:00:00"]}),
        (f"ARRAY['{UUID}']::uuid[]", {"stringValues": [UUID]}),
        ("""ARRAY['{"a": 1}']::jsonb[]""", {"stringValues": ['{"a":1}']}),
        ("'{}'::int[]", {"longValues": []}),
        ("'[0:1]={7,8}'::int[]", {"longValues": [7, 8]}),
    ],
)
def test_one_dimensional_arrays(api: Api, expression: str, array: dict[str, Any]) -> None:
    """§3.1: 1-D arrays of supported types come back as arrayValue, nulls included."""
    assert api.value(f"SELECT {expression}") == {"arrayValue": array}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("ARRAY[[1, 2], [3, 4]]", "The result contains a multidimensional array"),
        ("'1 day'::interval", "The result contains the unsupported data type INTERVAL."),
        ("'10:00:00+02'::timetz", "The result contains the unsupported data type TIMETZ."),
        ("'1.50'::money", "The result contains the unsupported data type MONEY."),
        ("point(1, 2)", "The result contains the unsupported data type POINT."),
        ("'a'::\"char\"", 'The result contains the unsupported data type "CHAR".'),
        ("'pg_class'::regclass", "The result contains the unsupported data type REGCLASS."),
        ("ARRAY['happy']::mood[]", "The result contains the unsupported data type _MOOD."),
        ("ARRAY[now()]", "The result contains the unsupported data type _TIMESTAMPTZ."),
        ("B'101'", "The result contains the unsupported data type BIT."),
    ],
)
def test_unsupported_results(api: Api, expression: str, message: str) -> None:
    """§3.1/§4.3: unsupported types and multidimensional arrays fail with UnsupportedResultException."""
    exc = api.execute_fails(f"SELECT {expression}")
    assert error(exc) == ("UnsupportedResultException", 400, message)
    assert isinstance(exc, api.client.exceptions.UnsupportedResultException)


def test_unsupported_type_workaround(api: Api) -> None:
    """§3.1: the documented workaround, casting to text in SQL."""
    assert api.value("SELECT '1 day'::interval::text") == {"stringValue": "1 day"}


@pytest.mark.parametrize(
    "expression", ["'infinity'::timestamp", "'-infinity'::date", "'infinity'::timestamptz"]
)
def test_infinite_dates_fail_as_internal_error(api: Api, expression: str) -> None:
    """§3.1 (reported, unconfirmed): ±infinity dates fail with an empty InternalServerErrorException."""
    client = make_client(api.emulator.endpoint_url, max_attempts=1)
    arns = api.arns
    with pytest.raises(client.exceptions.InternalServerErrorException) as caught:
        client.execute_statement(**arns, sql=f"SELECT {expression}")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_column_metadata_only_when_requested(api: Api) -> None:
    """§3.2: columnMetadata appears only with includeResultMetadata."""
    assert "columnMetadata" not in api.execute("SELECT 1 AS a")
    assert "columnMetadata" not in api.execute("SELECT 1 AS a", includeResultMetadata=False)
    assert len(api.execute("SELECT 1 AS a", includeResultMetadata=True)["columnMetadata"]) == 1


def test_column_metadata_only_for_row_returning_statements(api: Api, table: str) -> None:
    """§3.2: INSERT/UPDATE/DDL return no columnMetadata even when it is requested."""
    insert = api.execute(f"INSERT INTO {table} (qty) VALUES (1)", includeResultMetadata=True)
    assert insert == {"generatedFields": [], "numberOfRecordsUpdated": 1}
    ddl = api.execute(f"ALTER TABLE {table} ADD COLUMN extra text", includeResultMetadata=True)
    assert ddl == {"generatedFields": [], "numberOfRecordsUpdated": 0}
    empty = api.execute(f"SELECT qty FROM {table} WHERE false", includeResultMetadata=True)
    assert empty["records"] == []
    assert [c["name"] for c in empty["columnMetadata"]] == ["qty"]


def test_column_metadata_of_table_columns(api: Api, table: str) -> None:
    """§3.2: members follow PgJDBC's ResultSetMetaData (serial, nullability, precision, scale)."""
    response = api.execute(
        f"SELECT id, label, amount, at, uid, qty AS how_many FROM {table}",
        includeResultMetadata=True,
    )
    id_, label, amount, at, uid, qty = response["columnMetadata"]
    assert id_ == {
        "name": "id",
        "label": "id",
        "type": 4,
        "typeName": "serial",
        "schemaName": "",
        "tableName": table,
        "isAutoIncrement": True,
        "isSigned": True,
        "isCurrency": False,
        "isCaseSensitive": False,
        "nullable": 0,
        "precision": 10,
        "scale": 0,
        "arrayBaseColumnType": 0,
    }
    assert (label["typeName"], label["type"], label["nullable"], label["isCaseSensitive"]) == (
        "text",
        12,
        0,
        True,
    )
    assert (amount["typeName"], amount["type"], amount["precision"], amount["scale"]) == (
        "numeric",
        2,
        12,
        2,
    )
    assert (amount["nullable"], amount["isSigned"]) == (1, True)
    assert (at["typeName"], at["type"], at["scale"]) == ("timestamp", 93, 6)
    assert (uid["typeName"], uid["type"], uid["isSigned"]) == ("uuid", 1111, False)
    assert (qty["name"], qty["label"], qty["typeName"], qty["tableName"]) == (
        "how_many",
        "how_many",
        "int4",
        table,
    )


def test_column_metadata_of_expressions(api: Api) -> None:
    """§3.2: expression columns have no table, are nullable, and arrays carry their element type."""
    response = api.execute(
        "SELECT 1::int8 AS n, 2.5::float8 AS f, true AS b, ARRAY[1, 2] AS a, now() AS t",
        includeResultMetadata=True,
    )
    n, f, b, a, t = response["columnMetadata"]
    assert (n["typeName"], n["type"], n["tableName"], n["nullable"], n["precision"]) == (
        "int8",
        -5,
        "",
        1,
        19,
    )
    assert (f["typeName"], f["type"], f["precision"], f["scale"]) == ("float8", 8, 17, 17)
    assert (b["typeName"], b["type"]) == ("bool", -7)
    assert (a["typeName"], a["type"], a["arrayBaseColumnType"]) == ("_int4", 2003, 4)
    assert (t["typeName"], t["type"]) == ("timestamptz", 93)


def test_number_of_records_updated(api: Api, table: str) -> None:
    """§3.3: DML gives the affected-row count; SELECT and DDL give 0; generatedFields stay empty."""
    insert = api.execute(f"INSERT INTO {table} (qty) SELECT g FROM generate_series(1, 3) g")
    assert insert == {"generatedFields": [], "numberOfRecordsUpdated": 3}
    update = api.execute(f"UPDATE {table} SET qty = qty + 1 WHERE qty > 1")
    assert update == {"generatedFields": [], "numberOfRecordsUpdated": 2}
    select = api.execute(f"SELECT qty FROM {table} ORDER BY qty")
    assert select == {
        "numberOfRecordsUpdated": 0,
        "records": [[{"longValue": 1}], [{"longValue": 3}], [{"longValue": 4}]],
    }
    delete = api.execute(f"DELETE FROM {table}")
    assert delete == {"generatedFields": [], "numberOfRecordsUpdated": 3}
    ddl = api.execute(f"CREATE INDEX ON {table} (qty)")
    assert ddl == {"generatedFields": [], "numberOfRecordsUpdated": 0}


def test_insert_returning(api: Api, table: str) -> None:
    """§3.3: RETURNING is how PostgreSQL gives generated values; numberOfRecordsUpdated is 0 (unconfirmed)."""
    response = api.execute(f"INSERT INTO {table} (qty) VALUES (5), (6) RETURNING id, qty")
    assert response["numberOfRecordsUpdated"] == 0
    assert [row[1] for row in response["records"]] == [{"longValue": 5}, {"longValue": 6}]
    assert all("longValue" in row[0] for row in response["records"])


def test_format_records_as_json(api: Api) -> None:
    """§3.4: one JSON string in formattedRecords; no records or columnMetadata; values typed per the doc."""
    response = api.execute(
        "SELECT 1 AS i, 1.5::float8 AS f, 2.50::numeric AS d, true AS b, NULL::text AS n, "
        "'\\x01'::bytea AS blob, ARRAY[1, 2] AS arr, '2024-01-31'::date AS day, "
        """'{"k": 1}'::jsonb AS doc, count(*) FROM generate_series(1, 2)""",
        formatRecordsAs="JSON",
        includeResultMetadata=True,
    )
    assert set(response) == {"formattedRecords", "numberOfRecordsUpdated"}
    assert json.loads(response["formattedRecords"]) == [
        {
            "i": 1,
            "f": 1.5,
            "d": "2.50",
            "b": True,
            "n": None,
            "blob": "AQ==",
            "arr": [1, 2],
            "day": "2024-01-31",
            "doc": '{"k":1}',
            "count": 2,
        }
    ]


def test_format_records_as_json_ignored_without_rows(api: Api, table: str) -> None:
    """§3.4: for statements without a result set JSON formatting does not apply."""
    response = api.execute(f"INSERT INTO {table} (qty) VALUES (1)", formatRecordsAs="JSON")
    assert response == {"generatedFields": [], "numberOfRecordsUpdated": 1}


def test_format_records_as_json_duplicate_labels(api: Api) -> None:
    """§3.4: duplicate column labels are an error in JSON mode."""
    code, status, message = error(
        api.execute_fails("SELECT 1 AS a, 2 AS a", formatRecordsAs="JSON")
    )
    assert (code, status) == ("BadRequestException", 400)
    assert "duplicate column names" in message


def test_format_records_none_is_the_default(api: Api) -> None:
    """§1.1: formatRecordsAs NONE is the same as leaving it out."""
    assert api.execute("SELECT 1", formatRecordsAs="NONE") == api.execute("SELECT 1")


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("12.50::numeric", {"doubleValue": 12.5}),
        ("12::numeric", {"longValue": 12}),
        ("'NaN'::numeric", {"stringValue": "NaN"}),
        ("7::int4", {"longValue": 7}),
        (
            "ARRAY[1.50, 2]::numeric[]",
            {"arrayValue": {"stringValues": ["1.50", "2"]}},
        ),  # unconfirmed
    ],
)
def test_decimal_return_type_double_or_long(
    api: Api, expression: str, field: dict[str, Any]
) -> None:
    """§3.5: decimalReturnType DOUBLE_OR_LONG: longValue for scale 0, doubleValue otherwise."""
    options = {"decimalReturnType": "DOUBLE_OR_LONG"}
    assert api.value(f"SELECT {expression}", resultSetOptions=options) == field


def test_long_return_type_string(api: Api) -> None:
    """§3.5: longReturnType STRING returns integers as strings, in records and in JSON."""
    options = {"longReturnType": "STRING"}
    assert api.value("SELECT 9223372036854775807::int8", resultSetOptions=options) == {
        "stringValue": "9223372036854775807"
    }
    assert api.value("SELECT ARRAY[1, 2]", resultSetOptions=options) == {
        "arrayValue": {"stringValues": ["1", "2"]}
    }
    response = api.execute(
        "SELECT 5 AS n, 1.5 AS d", resultSetOptions=options, formatRecordsAs="JSON"
    )
    assert json.loads(response["formattedRecords"]) == [{"n": "5", "d": "1.5"}]
    decimals = api.execute(
        "SELECT 5 AS n, 1.5 AS d",
        resultSetOptions={"decimalReturnType": "DOUBLE_OR_LONG"},
        formatRecordsAs="JSON",
    )
    assert json.loads(decimals["formattedRecords"]) == [{"n": 5, "d": 1.5}]


def test_sqlalchemy_bootstrap_statements(api: Api) -> None:
    """§6.2/§8: the statements SQLAlchemy's PG dialect runs on first connect are answered."""
    transaction_id = api.begin()
    version = api.value("select pg_catalog.version()", transactionId=transaction_id)
    assert version["stringValue"].startswith("PostgreSQL ")
    assert api.value("select current_schema()", transactionId=transaction_id) == {
        "stringValue": "public"
    }
    assert api.value("show transaction isolation level", transactionId=transaction_id) == {
        "stringValue": "read committed"
    }
    assert api.value("show standard_conforming_strings", transactionId=transaction_id) == {
        "stringValue": "on"
    }
    assert api.rollback(transaction_id) == {"transactionStatus": "Rollback Complete"}


def test_many_rows(api: Api, table: str) -> None:
    """§3.1: many rows round-trip through botocore's parser unchanged."""
    api.execute(
        f"INSERT INTO {table} (qty, label) SELECT g, 'row ' || g FROM generate_series(1, 2000) g"
    )
    records = api.execute(f"SELECT qty, label FROM {table} ORDER BY qty")["records"]
    assert len(records) == 2000
    assert records[-1] == [{"longValue": 2000}, {"stringValue": "row 2000"}]


def test_parameters_and_results_round_trip(api: Api, table: str) -> None:
    """§2/§3: what goes in with each Field member comes back out the same."""
    api.execute(
        f"INSERT INTO {table} (label, qty, ratio, flag, amount) VALUES (:l, :q, :r, :f, :a)",
        [
            param("l", stringValue="naïve ☃"),
            param("q", longValue=-42),
            param("r", doubleValue=0.1),
            param("f", booleanValue=False),
            param("a", "DECIMAL", stringValue="-0.05"),
        ],
    )
    assert api.execute(f"SELECT label, qty, ratio, flag, amount FROM {table}")["records"] == [
        [
            {"stringValue": "naïve ☃"},
            {"longValue": -42},
            {"doubleValue": 0.1},
            {"booleanValue": False},
            {"stringValue": "-0.05"},
        ]
    ]
