"""Running one worker batch in one environment, surviving worker deaths and hangs.

The worker writes `<id>.start` when it begins a cell and `<id>.json` when it ends one.  This
module watches those files: finished cells are handed on at once (so they reach cells.jsonl
while the batch still runs); a worker that dies marks the cell it was on `crash`; a cell past its
time limit is killed and marked `timeout`.  Either way a fresh worker takes the rest.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import procs
from .errors import HarnessError
from .worker import outcomes

POLL_SECONDS = 0.2
_live: set = set()
_live_lock = threading.Lock()


def _kill(handle) -> None:
    if hasattr(handle, "pid") and hasattr(handle, "returncode"):  # a local subprocess.Popen
        procs.kill(handle)
    else:  # a backend's own handle (a container)
        handle.kill()


def kill_all() -> None:
    """Kill every running worker (on Ctrl-C): they run in their own sessions and would not
    receive the terminal's SIGINT."""
    with _live_lock:
        for proc in list(_live):
            _kill(proc)
        _live.clear()


class HostIOError(HarnessError):
    """The host cannot write where the run lives (disk full, folder gone): the run's error,
    never a cell's status."""


# Below this many free bytes where a worker writes, a dead worker is blamed on the disk.
LOW_DISK_BYTES = 16 << 20


def _request_id(req) -> str:
    return req.id if hasattr(req, "id") else req["id"]


def _request_json(req) -> dict:
    return req.to_json() if hasattr(req, "to_json") else req


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


def log_tail(log: Path, chars: int = 1500) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:].strip()


def run_batch(env, phase: str, requests: list, work_dir: Path, *,
              on_result: Callable, cell_timeout: float = 600,
              startup_timeout: float = 600, stop: threading.Event | None = None,
              memory_limit_mb: int | None = None) -> None:
    """Run `requests` (SaveRequest/LoadRequest, or their JSON dicts) through workers in `env`
    until every one has a result, or until `stop` is set (Ctrl-C, SIGTERM): then the worker is
    killed and no further result is reported, so a killed cell is never recorded as a crash
    and `--resume` does it again.  A worker that dies because the disk is full stops the run
    (HostIOError), it does not make a `crash` cell."""
    work_dir.mkdir(parents=True, exist_ok=True)
    pending = list(requests)
    attempt = 0
    stop = stop or threading.Event()
    while pending and not stop.is_set():
        attempt += 1
        batch_file = work_dir / f"batch-{attempt}.json"
        batch = {"phase": phase, "out_dir": str(work_dir),
                 "requests": [_request_json(r) for r in pending]}
        if getattr(env, "worker_is_child", True):  # it can watch for the host's death
            batch["host_pid"] = os.getpid()
        if memory_limit_mb:
            batch["memory_limit_mb"] = int(memory_limit_mb)
        _write_host_file(batch_file, json.dumps(batch))
        log = work_dir / f"worker-{attempt}.log"
        proc = env.start_worker(batch_file, log)
        with _live_lock:
            _live.add(proc)
        try:
            pending = _watch(proc, pending, work_dir, log, on_result, cell_timeout,
                             startup_timeout, stop)
        finally:
            with _live_lock:
                _live.discard(proc)
            if proc.poll() is None:
                _kill(proc)


def _write_host_file(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise HostIOError(f"cannot write {path}: {exc.strerror or exc}") from None


def _read_result(done: Path) -> dict:
    """A finished cell's result file; one that is not a JSON object is the worker's fault
    (the cell's `crash`), never an error of the host."""
    try:
        result = json.loads(done.read_bytes())
    except (OSError, ValueError) as exc:
        return {"status": outcomes.CRASH, "error_type": "BadWorkerResult",
                "error": f"the worker wrote an unreadable result: {exc}"}
    if not isinstance(result, dict):
        return {"status": outcomes.CRASH, "error_type": "BadWorkerResult",
                "error": f"the worker wrote a result that is not an object: {result!r:.100}"}
    return result


def disk_full(work_dir: Path, log: Path) -> bool:
    """Did a worker die because the disk is full?  Either the disk has (almost) no room left
    or the worker's last words say so."""
    try:
        if shutil.disk_usage(work_dir).free < LOW_DISK_BYTES:
            return True
    except OSError:
        return True
    tail = log_tail(log, 3000)
    return "No space left on device" in tail or f"[Errno {errno.ENOSPC}]" in tail


def _watch(proc, pending, work_dir, log, on_result, cell_timeout, startup_timeout,
           stop) -> list:
    """Follow one worker process; return the requests a fresh worker must still do."""
    last_progress = time.monotonic()
    while pending:
        if stop.is_set():
            _kill(proc)
            return []
        current = pending[0]
        rid = _request_id(current)
        done = work_dir / f"{rid}.json"
        if done.exists():
            result = _read_result(done)
            result["log"] = str(log)
            arrays = work_dir / f"{rid}.npz"
            if arrays.exists():
                result["arrays"] = str(arrays)
            pending.pop(0)
            on_result(current, result)
            last_progress = time.monotonic()
            continue
        rc = proc.poll()
        started = work_dir / f"{rid}.start"
        if rc is not None:
            if done.exists():  # finished just before exiting
                continue
            if stop.is_set():  # killed by us on Ctrl-C: not the cell's fault
                return []
            if disk_full(work_dir, log):
                raise HostIOError(f"the worker in {work_dir.name} died ({describe_exit(rc)}) "
                                  "and the disk is full (No space left on device)")
            if started.exists():
                pending.pop(0)
                on_result(current, {"status": outcomes.CRASH, "error_type": "WorkerDied",
                                    "error": f"worker died ({describe_exit(rc)}) on this cell; "
                                             f"log tail:\n{log_tail(log)}", "log": str(log)})
                return pending  # a fresh worker takes the rest
            # Died before starting a cell: TF does not import, or the batch is unreadable.
            reason = _startup_failure(work_dir, rc, log)
            for req in pending:
                on_result(req, {"status": outcomes.CRASH, "error_type": "WorkerStartFailed",
                                "error": reason, "log": str(log)})
            return []
        now = time.monotonic()
        if started.exists() and time.time() - _mtime(started) > cell_timeout:
            _kill(proc)
            pending.pop(0)
            on_result(current, {"status": outcomes.TIMEOUT, "error_type": "Timeout",
                                "error": f"cell exceeded its {cell_timeout:g} s limit",
                                "log": str(log)})
            return pending
        if not started.exists() and now - last_progress > startup_timeout:
            _kill(proc)
            for req in pending:
                on_result(req, {"status": outcomes.TIMEOUT, "error_type": "Timeout",
                                "error": f"worker started no cell within {startup_timeout:g} s",
                                "log": str(log)})
            return []
        time.sleep(POLL_SECONDS)
    # All done: let the worker exit on its own (it has nothing left), then make sure it did.
    try:
        proc.wait(timeout=30)
    except Exception:
        _kill(proc)
    return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _startup_failure(work_dir: Path, rc: int, log: Path) -> str:
    versions = work_dir / "versions.json"
    if versions.exists():
        info = _read_result(versions)
        if isinstance(info.get("import_error"), dict):
            err = info["import_error"]
            return f"TensorFlow does not import here: {err['error_type']}: {err['error']}"
    return f"worker exited ({describe_exit(rc)}) before its first cell; log tail:\n{log_tail(log)}"
