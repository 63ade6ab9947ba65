"""The pytest front end for real: a small matrix spec run as pytest items under pytest-xdist,
with an expectations file; the JUnit XML shows each cell's outcome."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.plugins.compat_matrix import CellFailed, judge_row


def test_outcomes_follow_the_expectations():
    def exp(status):
        return SimpleNamespace(status=status, reason="why")

    judge_row({"status": "pass"}, None)
    judge_row({"status": "pass"}, exp("pass"))
    with pytest.raises(pytest.skip.Exception):
        judge_row({"status": "unsupported", "error": "no GPU"}, None)
    with pytest.raises(pytest.xfail.Exception, match="load-error: why"):
        judge_row({"status": "load-error"}, exp("load-error"))
    with pytest.raises(CellFailed, match="passes now"):
        judge_row({"status": "pass"}, exp("load-error"))
    with pytest.raises(CellFailed, match="expected load-error .why., got mismatch"):
        judge_row({"status": "mismatch"}, exp("load-error"))
    with pytest.raises(CellFailed, match=r"^load-error \(ValueError\): boom"):
        judge_row({"status": "load-error", "error_type": "ValueError", "error": "boom"}, None)
    # unsupported is never a failure, whatever an entry expects: the rule of `harness check`
    with pytest.raises(pytest.skip.Exception, match="unsupported: no such API"):
        judge_row({"status": "unsupported", "error": "no such API"}, exp("load-error"))
