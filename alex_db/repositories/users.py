"""users: the people Alex plans for (keyed by their Clerk id)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from alex_db.errors import translated
from alex_db.models import User
from alex_db.repositories.base import Repository
from alex_db.schemas import UserCreate, UserRead, UserUpdate


class UserRepository(Repository):
    def create_user(self, user: UserCreate, *, session: Session | None = None) -> UserRead:
        with translated(key=user.clerk_user_id), self._autocommit(session) as s:
            row = user.to_orm()
            s.add(row)
            s.flush()
            return UserRead.model_validate(row)

    def find_by_clerk_id(
        self, clerk_user_id: str, *, session: Session | None = None
    ) -> UserRead | None:
        with translated(), self._autocommit(session) as s:
            row = s.get(User, clerk_user_id)
            return None if row is None else UserRead.model_validate(row)

    def update(
        self, clerk_user_id: str, changes: UserUpdate, *, session: Session | None = None
    ) -> UserRead:
        with translated(key=clerk_user_id), self._autocommit(session) as s:
            row = self._update_one(
                s,
                User,
                User.clerk_user_id == clerk_user_id,
                changes.changes(),
                entity="user",
                key=clerk_user_id,
            )
            return UserRead.model_validate(row)

    def delete(self, clerk_user_id: str, *, session: Session | None = None) -> None:
        """Delete the user and, by cascade, their accounts, positions, jobs and logs."""
        with translated(key=clerk_user_id, deleting=True), self._autocommit(session) as s:
            self._delete_one(s, User, User.clerk_user_id == clerk_user_id, "user", clerk_user_id)
