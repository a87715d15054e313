"""Alembic's migration suite, run by SQLAlchemy's test plugin (configured by setup.cfg
here)."""

import pytest

pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402, F403
