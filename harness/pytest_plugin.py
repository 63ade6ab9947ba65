"""The old name of the compat-matrix pytest plugin, kept so `pytest -p harness.pytest_plugin`
works with plugin autoloading off too; the plugin is harness/plugins/compat_matrix.py."""

from .plugins.compat_matrix import *  # noqa: F403
