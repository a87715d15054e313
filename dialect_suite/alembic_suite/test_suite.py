"""Every test of Alembic's migration suite."""

from alembic.testing.suite import *  # noqa: F403
