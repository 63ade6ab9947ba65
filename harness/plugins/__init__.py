"""The two pytest plugins, named for what they run: compat_matrix.py (`pytest
--compat-matrix M`: one item per cell, entry point harness.pytest_plugin) and
regression_fixtures.py (`pytest --compat-fixtures DIR`: one item per fixture x load version,
entry point harness.pytest_fixtures).  They drive harness.run like `harness run` does."""
