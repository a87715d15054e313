"""accounts: a user's brokerage and retirement accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from alex_db.errors import translated
from alex_db.models import Account
from alex_db.repositories.base import Repository, parse_uuid
from alex_db.schemas import AccountCreate, AccountRead, AccountUpdate


class AccountRepository(Repository):
    def create_account(
        self, clerk_user_id: str, account: AccountCreate, *, session: Session | None = None
    ) -> AccountRead:
        """Create an account for an existing user (an unknown user raises
        ``InvalidReferenceError``)."""
        with translated(key=clerk_user_id), self._autocommit(session) as s:
            row = account.to_orm(clerk_user_id)
            s.add(row)
            s.flush()
            return AccountRead.model_validate(row)

    def find_by_id(
        self, account_id: uuid.UUID | str, *, session: Session | None = None
    ) -> AccountRead | None:
        key = parse_uuid(account_id, "account id")
        with translated(), self._autocommit(session) as s:
            row = s.get(Account, key)
            return None if row is None else AccountRead.model_validate(row)

    def find_by_user(
        self, clerk_user_id: str, *, session: Session | None = None
    ) -> list[AccountRead]:
        """The user's accounts by name (an unknown user has none)."""
        stmt = (
            select(Account)
            .where(Account.clerk_user_id == clerk_user_id)
            .order_by(Account.account_name, Account.id)
        )
        with translated(), self._autocommit(session) as s:
            return [AccountRead.model_validate(r) for r in s.scalars(stmt)]

    def update(
        self, account_id: uuid.UUID | str, changes: AccountUpdate, *, session: Session | None = None
    ) -> AccountRead:
        key = parse_uuid(account_id, "account id")
        with translated(key=key), self._autocommit(session) as s:
            row = self._update_one(
                s, Account, Account.id == key, changes.changes(), entity="account", key=key
            )
            return AccountRead.model_validate(row)

    def delete(self, account_id: uuid.UUID | str, *, session: Session | None = None) -> None:
        """Delete the account and, by cascade, its positions."""
        key = parse_uuid(account_id, "account id")
        with translated(key=key, deleting=True), self._autocommit(session) as s:
            self._delete_one(s, Account, Account.id == key, "account", key)
