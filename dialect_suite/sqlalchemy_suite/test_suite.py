"""Every test of SQLAlchemy's dialect conformance suite."""

from sqlalchemy.testing.suite import *  # noqa: F403
