"""The old name of the regression-fixtures pytest plugin, kept so `pytest -p
harness.pytest_fixtures` works with plugin autoloading off too; the plugin is
harness/plugins/regression_fixtures.py."""

from .plugins.regression_fixtures import *  # noqa: F403
