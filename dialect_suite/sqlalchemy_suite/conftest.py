"""SQLAlchemy's own dialect suite (see README.dialects.rst in SQLAlchemy): its plugin
runs this folder's pytest session, configured by setup.cfg here."""

import pytest

pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402, F403

pytest_plugins = ["data_api_limits"]
