"""The fast lane: no test here may run TensorFlow (those live in tests/tf/).  A test marked `tf`
in this folder is an error, so the split cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    wrong = [i.nodeid for i in items if HERE in Path(str(i.fspath)).resolve().parents
             and i.get_closest_marker("tf")]
    if wrong:
        raise pytest.UsageError(f"tests marked tf under tests/unit (move them to tests/tf): "
                                f"{', '.join(wrong)}")
