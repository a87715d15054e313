"""Shared fixtures. The database fixtures come from alex_db's own pytest plugin
(``alex_db.testing.plugin``, loaded through its entry point), the same one the
Alex services use."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session


@pytest.fixture
def session(alex_db_session: Session) -> Session:
    return alex_db_session
