"""Run what the worker adds beyond the user's own calls in a forked copy of the process.

A TFLite file's outputs can be right while the interpreter's tensor listing
(`get_tensor_details()`, reading each tensor) crashes the process: seen on a `.tflite` with
sparse (DENSIFY) tensors, whose `allocate_tensors`/`invoke`/`get_tensor` work.  That listing is
ours (to find the reference parameters by value), not the user's, so its failure must not turn a
cell whose user calls succeeded into a `crash`.  A fork is an exact copy of the interpreter in
the state the user's calls left it (same file, same allocations, after `invoke`), costs no TF
import, and a SIGSEGV there kills only the copy.

Stdlib only (pickle carries the numpy arrays): the fast tests run it without TF.
"""

from __future__ import annotations

import os
import pickle
import signal
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

LISTING_TIMEOUT = 120.0  # seconds: far above the ~0.1 s a zoo model's listing takes


def in_child(fn: Callable[[], Any], timeout: float = LISTING_TIMEOUT) -> tuple[Any, str | None]:
    """(fn(), None) from a forked child, or (None, why) where it did not give a result:
    "crashed (SIGSEGV)", "failed (ValueError: ...)", "timed out after 120 s".  Without fork
    (not POSIX), fn runs here and only its exceptions are caught."""
    if not hasattr(os, "fork"):
        try:
            return fn(), None
        except Exception as exc:
            return None, f"failed ({type(exc).__name__}: {str(exc)[:200]})"
    fd, name = tempfile.mkstemp(prefix="tfh-child-", suffix=".pkl")
    os.close(fd)
    try:
        with warnings.catch_warnings():  # 3.12+: "fork() with threads may deadlock" (timeout)
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                pid = os.fork()
            except OSError as exc:  # e.g. ENOMEM for a large worker: the step is skipped
                return None, f"not run (fork failed: {exc})"
        if pid == 0:  # the child: never returns into the worker's code
            _child(fn, name)
        return _wait(pid, name, timeout)
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


def _child(fn: Callable[[], Any], name: str) -> None:
    code = 0
    if os.environ.get("HARNESS_TEST_CHILD_SEGFAULT") == "1":  # main._test_hook, tests only
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV, as the sparse-tensor listing did
    try:
        try:
            result = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 -- reported to the parent, not raised
            result = ("error", f"{type(exc).__name__}: {str(exc)[:200]}")
            code = 3
        with open(name, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # noqa: BLE001
        code = 4
    finally:
        os._exit(code)  # no atexit, no TF teardown, no flush of the parent's buffers


def _wait(pid: int, name: str, timeout: float) -> tuple[Any, str | None]:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, f"timed out after {timeout:g} s"
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            sig_name = signal.Signals(sig).name
        except ValueError:
            sig_name = f"signal {sig}"
        return None, f"crashed ({sig_name})"
    try:
        with open(name, "rb") as f:
            tag, value = pickle.load(f)
    except Exception:
        return None, f"exited with status {os.WEXITSTATUS(status)} and no result"
    if tag == "ok":
        return value, None
    return None, f"failed ({value})"
