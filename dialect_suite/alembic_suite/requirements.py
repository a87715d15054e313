"""What PostgreSQL (15 and later) supports, for Alembic's migration suite (one class for both
targets, as for SQLAlchemy's suite)."""

from __future__ import annotations

from alembic.testing.requirements import SuiteRequirements
from sqlalchemy.testing import exclusions


class Requirements(SuiteRequirements):
    @property
    def reflects_pk_names(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def reflects_fk_options(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_ondelete_is_reflected(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_onupdate_is_reflected(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_onupdate(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_ondelete_restrict(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_onupdate_restrict(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_ondelete_noaction(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_initially(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_deferrable(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_deferrable_is_reflected(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def fk_names(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def comments(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def computed_columns(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def identity_columns(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def identity_columns_alter(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def unique_constraint_reflection(self) -> exclusions.compound:
        return exclusions.open()

    @property
    def check_constraints_w_enforcement(self) -> exclusions.compound:
        return exclusions.open()
