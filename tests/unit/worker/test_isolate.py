"""The worker's fork isolation (harness/worker/isolate.py) with real processes: a child that
segfaults, raises or hangs leaves the parent running and says what happened.  Stdlib only: the
real TF use (a TFLite listing in a forked copy of the interpreter) is in test_formats.py."""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np
import pytest

from harness.worker.isolate import in_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_the_child_hands_back_its_result_with_arrays():
    parent = os.getpid()
    (pid, arr), why = in_child(lambda: (os.getpid(), np.arange(6, dtype=np.float32)))
    assert why is None
    assert pid != parent  # it did run in another process
    np.testing.assert_array_equal(arr, np.arange(6, dtype=np.float32))


def test_a_segfault_in_the_child_is_reported_and_the_parent_goes_on():
    def read_null():
        return ctypes.string_at(0)  # a real SIGSEGV: reads address 0

    got, why = in_child(read_null)
    assert got is None
    assert why == "crashed (SIGSEGV)"
    assert in_child(lambda: 41 + 1) == (42, None)  # the parent still works


def test_an_exception_in_the_child_is_named():
    def boom():
        raise ValueError("tensor 7 has no data")

    assert in_child(boom) == (None, "failed (ValueError: tensor 7 has no data)")


def test_a_hanging_child_is_killed_at_its_timeout():
    t0 = time.monotonic()
    got, why = in_child(lambda: time.sleep(30), timeout=0.5)
    assert (got, why) == (None, "timed out after 0.5 s")
    assert time.monotonic() - t0 < 10


def test_a_fork_that_cannot_happen_skips_the_step_and_says_so(monkeypatch):
    def no_fork():
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(os, "fork", no_fork)
    assert in_child(lambda: 1) == (None, "not run (fork failed: [Errno 12] Cannot allocate "
                                         "memory)")
