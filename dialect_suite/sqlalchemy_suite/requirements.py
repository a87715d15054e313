"""What PostgreSQL (15 and later) supports, for SQLAlchemy's dialect conformance suite.

One class for every target: the baseline (``postgresql+psycopg``) and the Data API
dialect (``postgresql+alexdataapi``) are held to the same list. What the RDS Data API
itself cannot do (not something a dialect could fix) is declared with ``_data_api_limit``
and a comment naming the limit, or in data_api_limits.py for single tests; the README
and docs/data-api.md list the same limits for users.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements

_open = exclusions.open


def _data_api_limit(reason: str) -> Any:
    """Skipped on the Data API dialect only, for a limit of the service itself."""
    return exclusions.skip_if("postgresql+alexdataapi", reason)


class Requirements(SuiteRequirements):
    # --- SQL PostgreSQL has --------------------------------------------------------
    aggregate_order_by = property(lambda self: _open())
    array_type = property(lambda self: _open())
    boolean_col_expressions = property(lambda self: _open())
    ctes = property(lambda self: _open())
    ctes_on_dml = property(lambda self: _open())
    ctes_with_update_delete = property(lambda self: _open())
    ctes_with_values = property(lambda self: _open())
    delete_from = property(lambda self: _open())
    except_ = property(lambda self: _open())
    intersect = property(lambda self: _open())
    fetch_expression = property(lambda self: _open())
    fetch_first = property(lambda self: _open())
    fetch_no_order_by = property(lambda self: _open())
    fetch_offset_with_options = property(lambda self: _open())
    fetch_ties = property(lambda self: _open())
    nullsordering = property(lambda self: _open())
    order_by_label_with_expression = property(lambda self: _open())
    regexp_match = property(lambda self: _open())
    regexp_replace = property(lambda self: _open())
    supports_bitwise_and = property(lambda self: _open())
    supports_bitwise_not = property(lambda self: _open())
    supports_bitwise_or = property(lambda self: _open())
    supports_bitwise_shift = property(lambda self: _open())
    supports_bitwise_xor = property(lambda self: _open())
    supports_distinct_on = property(lambda self: _open())
    table_value_constructor = property(lambda self: _open())
    tuple_in = property(lambda self: _open())
    update_from = property(lambda self: _open())
    window_functions = property(lambda self: _open())
    window_range = property(lambda self: _open())
    window_range_non_numeric = property(lambda self: _open())
    window_range_numeric = property(lambda self: _open())

    # --- types ---------------------------------------------------------------------
    date_historic = property(lambda self: _open())
    datetime_historic = property(lambda self: _open())
    datetime_interval = property(lambda self: _open())
    datetime_timezone = property(lambda self: _open())
    datetime_timezone_historic = property(lambda self: _open())
    infinity_floats = property(lambda self: _open())
    json_type = property(lambda self: _open())
    precision_numerics_enotation_small = property(lambda self: _open())
    precision_numerics_many_significant_digits = property(lambda self: _open())
    precision_numerics_retains_significant_digits = property(lambda self: _open())
    time_timezone = property(lambda self: _open())
    timestamp_microseconds = property(lambda self: _open())
    uuid_data_type = property(lambda self: _open())

    # --- DDL and reflection ----------------------------------------------------------
    check_constraint_reflection = property(lambda self: _open())
    column_collation_reflection = property(lambda self: _open())
    comment_reflection = property(lambda self: _open())
    comment_reflection_full_unicode = property(lambda self: _open())
    # PostgreSQL before 18 has only STORED generated columns, and SQLAlchemy 2.1 warns
    # (an error under its test plugin) for a column that does not say persisted=True.
    computed_columns = property(
        lambda self: exclusions.skip_if(
            lambda config: config.db.dialect.server_version_info < (18,),
            "PostgreSQL < 18: only STORED generated columns (SQLAlchemy warns)",
        )
    )
    computed_columns_reflect_persisted = property(lambda self: _open())
    computed_columns_stored = property(lambda self: _open())
    constraint_comment_reflection = property(lambda self: _open())
    create_or_replace_view = property(lambda self: _open())
    create_table_as = property(lambda self: _open())
    create_temp_table_as = property(lambda self: _open())
    cross_schema_fk_reflection = property(lambda self: _open())
    deferrable_fks = property(lambda self: _open())
    expression_server_defaults = property(lambda self: _open())
    fk_constraint_option_reflection_ondelete_noaction = property(lambda self: _open())
    fk_constraint_option_reflection_ondelete_restrict = property(lambda self: _open())
    fk_constraint_option_reflection_onupdate_restrict = property(lambda self: _open())
    foreign_key_constraint_name_reflection = property(lambda self: _open())
    foreign_key_constraint_option_reflection_ondelete = property(lambda self: _open())
    foreign_key_constraint_option_reflection_onupdate = property(lambda self: _open())
    identity_columns = property(lambda self: _open())
    identity_columns_standard = property(lambda self: _open())
    index_ddl_if_exists = property(lambda self: _open())
    index_reflects_included_columns = property(lambda self: _open())
    indexes_check_column_order = property(lambda self: _open())
    indexes_with_expressions = property(lambda self: _open())
    materialized_views = property(lambda self: _open())
    reflect_indexes_with_expressions = property(lambda self: _open())
    reflect_table_options = property(lambda self: _open())
    reflect_tables_no_columns = property(lambda self: _open())
    reflects_pk_names = property(lambda self: _open())
    schema_create_delete = property(lambda self: _open())
    server_defaults = property(lambda self: _open())
    table_ddl_if_exists = property(lambda self: _open())
    unicode_ddl = property(lambda self: _open())
    unique_constraints_reflect_as_index = property(lambda self: _open())
    views = property(lambda self: _open())

    # --- connections and transactions ----------------------------------------------
    autocommit = property(lambda self: _open())
    isolation_level = property(lambda self: _open())
    savepoints = property(lambda self: _open())

    def get_isolation_levels(self, config: Any) -> dict[str, Any]:
        return {
            "default": "READ COMMITTED",
            # In the order the dialect names them in its errors.
            "supported": [
                "AUTOCOMMIT",
                "READ COMMITTED",
                "READ UNCOMMITTED",
                "REPEATABLE READ",
                "SERIALIZABLE",
            ],
        }

    # --- session state: the Data API keeps none between calls ------------------------
    # Every ExecuteStatement may run on a different connection; only a transaction
    # pins one. Temporary tables, temporary views and SET in a connect event do not
    # outlive the call that made them.
    temp_table_names = property(lambda self: _data_api_limit("no session state between calls"))
    has_temp_table = property(lambda self: _data_api_limit("no session state between calls"))
    temp_table_comment_reflection = property(
        lambda self: _data_api_limit("no session state between calls")
    )
    temporary_tables = property(lambda self: _data_api_limit("no session state between calls"))
    temp_table_reflection = property(lambda self: _data_api_limit("no session state between calls"))
    temporary_views = property(lambda self: _data_api_limit("no session state between calls"))
    default_schema_name_switch = property(
        lambda self: _data_api_limit("no session state between calls")
    )
