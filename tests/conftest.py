"""Shared fixtures.  The tests mirror the code: tests/unit/<wing>/ runs no TensorFlow (the fast
lane, `pytest tests/unit`); everything under tests/tf/ is marked `tf` by its conftest and
installs real TensorFlow from the package index into uv environments (cached in HARNESS_CACHE
or ~/.cache/tf-compat-harness, reused across runs).  Helpers the tests share are tests/support/
(importable as `support`: this folder is put on sys.path here)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.envs import default_cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import support`


def pytest_collection_modifyitems(config, items):
    # CI must never quietly skip the cross-version tests: without uv they fail instead.
    if os.environ.get("CI") and any("crossversion" in i.keywords for i in items):
        from harness.envs.uv import uv_bin

        uv_bin()  # raises EnvError with a one-line reason if uv is missing


@pytest.fixture(scope="session")
def cache_dir():
    return default_cache_dir()


@pytest.fixture(scope="session")
def uv_available():
    try:
        from harness.envs.uv import uv_bin

        return uv_bin()
    except Exception as exc:  # only outside CI: see pytest_collection_modifyitems
        if os.environ.get("CI"):
            raise
        pytest.skip(f"uv is not installed ({exc}); pip install uv")
    return shutil.which("uv")


@pytest.fixture
def hooked_saves(tmp_path, monkeypatch):
    """Run save cells of the `module` model through a real worker of `env` with its test hooks
    on (`abort`, `hang`): `run(env, [(format, hook or None), ...], cell_timeout)` returns
    {request id: result}; worker logs are in tmp_path / "work"."""
    from harness.run import batch as execute

    monkeypatch.setenv("HARNESS_WORKER_TEST_HOOKS", "1")
    art = tmp_path / "artifacts"

    def run(env, cells, cell_timeout):
        requests = [{"id": f"s{i}", "model": "module", "format": fmt,
                     "artifact_dir": str(art / fmt), "reference_dir": str(art)}
                    | ({"test_hook": hook} if hook else {})
                    for i, (fmt, hook) in enumerate(cells)]
        results = {}
        execute.run_batch(env, "save", requests, tmp_path / "work", cell_timeout=cell_timeout,
                          on_result=lambda req, res: results.__setitem__(req["id"], res))
        return results

    return run


@pytest.fixture(autouse=True)
def _a_fixed_terminal_width(monkeypatch):
    """What `show`, `run` and `advise` print fits the terminal (shutil.get_terminal_size reads
    COLUMNS first): the tests read it as piped (160 columns), whatever terminal runs pytest; a
    test of another width passes --width."""
    monkeypatch.setenv("COLUMNS", "160")
