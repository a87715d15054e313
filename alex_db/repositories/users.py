"""users: the people Alex plans for (keyed by their Clerk id)."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select

from alex_db.models import User
from alex_db.repositories.base import (
    Repository,
    delete_one,
    read_model,
    schema_arg,
    table_of,
    update_one,
    user_key,
)
from alex_db.schemas import UserCreate, UserRead, UserUpdate

USERS = table_of(User)
# Prebuilt: a statement built per call would be compiled (or its cache key computed) per call.
_INSERT = insert(USERS).returning(*USERS.c)
_BY_ID = select(USERS).where(USERS.c.clerk_user_id == bindparam("key"))


class UserRepository(Repository):
    def create_user(self, user: UserCreate) -> UserRead:
        user = schema_arg(user, UserCreate, "user")
        with self._write(key=user.clerk_user_id) as ex:
            row = ex.execute(_INSERT, user.model_dump(exclude_none=True)).one()
        return read_model(UserRead, row)

    def find_by_clerk_id(self, clerk_user_id: str) -> UserRead | None:
        clerk_user_id = user_key(clerk_user_id)
        with self._read() as ex:
            row = ex.execute(_BY_ID, {"key": clerk_user_id}).first()
        return None if row is None else read_model(UserRead, row)

    def update(self, clerk_user_id: str, changes: UserUpdate) -> UserRead:
        clerk_user_id = user_key(clerk_user_id)
        changes = schema_arg(changes, UserUpdate, "changes")
        with self._write(key=clerk_user_id) as ex:
            row = update_one(
                ex,
                USERS,
                USERS.c.clerk_user_id == clerk_user_id,
                changes.changes(),
                entity="user",
                key=clerk_user_id,
            )
        return read_model(UserRead, row)

    def delete(self, clerk_user_id: str) -> None:
        """Delete the user and, by cascade, their accounts, positions, jobs and logs."""
        clerk_user_id = user_key(clerk_user_id)
        with self._write(key=clerk_user_id, deleting=True) as ex:
            delete_one(ex, USERS, USERS.c.clerk_user_id == clerk_user_id, "user", clerk_user_id)
