"""accounts: a user's brokerage and retirement accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, insert, select

from alex_db.models import Account
from alex_db.repositories.base import (
    Repository,
    delete_one,
    parse_uuid,
    read_model,
    read_models,
    schema_arg,
    table_of,
    update_one,
    user_key,
)
from alex_db.schemas import AccountCreate, AccountRead, AccountUpdate

ACCOUNTS = table_of(Account)
_INSERT = insert(ACCOUNTS).returning(*ACCOUNTS.c)
_BY_ID = select(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("key"))


class AccountRepository(Repository):
    def create_account(self, clerk_user_id: str, account: AccountCreate) -> AccountRead:
        """Create an account for an existing user (an unknown user raises
        ``InvalidReferenceError``)."""
        clerk_user_id = user_key(clerk_user_id)
        account = schema_arg(account, AccountCreate, "account")
        values = {"clerk_user_id": clerk_user_id, **account.model_dump(exclude_none=True)}
        with self._write(key=clerk_user_id) as ex:
            row = ex.execute(_INSERT, values).one()
        return read_model(AccountRead, row)

    def find_by_id(self, account_id: uuid.UUID | str) -> AccountRead | None:
        key = parse_uuid(account_id, "account id")
        with self._read() as ex:
            row = ex.execute(_BY_ID, {"key": key}).first()
        return None if row is None else read_model(AccountRead, row)

    def find_by_user(self, clerk_user_id: str) -> list[AccountRead]:
        """The user's accounts by name (an unknown user has none)."""
        clerk_user_id = user_key(clerk_user_id)
        stmt = (
            select(ACCOUNTS)
            .where(ACCOUNTS.c.clerk_user_id == clerk_user_id)
            .order_by(ACCOUNTS.c.account_name, ACCOUNTS.c.id)
        )
        with self._read() as ex:
            found = ex.execute(stmt).all()
        return read_models(AccountRead, found)

    def update(self, account_id: uuid.UUID | str, changes: AccountUpdate) -> AccountRead:
        key = parse_uuid(account_id, "account id")
        changes = schema_arg(changes, AccountUpdate, "changes")
        with self._write(key=key) as ex:
            row = update_one(
                ex, ACCOUNTS, ACCOUNTS.c.id == key, changes.changes(), entity="account", key=key
            )
        return read_model(AccountRead, row)

    def delete(self, account_id: uuid.UUID | str) -> None:
        """Delete the account and, by cascade, its positions."""
        key = parse_uuid(account_id, "account id")
        with self._write(key=key, deleting=True) as ex:
            delete_one(ex, ACCOUNTS, ACCOUNTS.c.id == key, "account", key)
