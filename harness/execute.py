"""Running one worker batch in one environment, surviving worker deaths and hangs.

The worker writes `<id>.start` when it begins a cell and `<id>.json` when it ends one.  This
module watches those files: finished cells are handed on at once (so they reach cells.jsonl
while the batch still runs); a worker that dies marks the cell it was on `crash`; a cell past its
time limit is killed and marked `timeout`.  Either way a fresh worker takes the rest.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import procs

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


def run_batch(env, phase: str, requests: list[dict], work_dir: Path, *,
              on_result: Callable[[dict, dict], None], cell_timeout: float = 600,
              startup_timeout: float = 600, stop: threading.Event | None = None) -> None:
    """Run `requests` through workers in `env` until every one has a result, or until `stop`
    is set (Ctrl-C): then the worker is killed and no further result is reported, so a killed
    cell is never recorded as a crash and `--resume` does it again."""
    work_dir.mkdir(parents=True, exist_ok=True)
    pending = list(requests)
    attempt = 0
    stop = stop or threading.Event()
    while pending and not stop.is_set():
        attempt += 1
        batch_file = work_dir / f"batch-{attempt}.json"
        batch_file.write_text(json.dumps({"phase": phase, "out_dir": str(work_dir),
                                          "requests": pending}))
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


def _watch(proc, pending, work_dir, log, on_result, cell_timeout, startup_timeout,
           stop) -> list[dict]:
    """Follow one worker process; return the requests a fresh worker must still do."""
    last_progress = time.monotonic()
    while pending:
        if stop.is_set():
            _kill(proc)
            return []
        current = pending[0]
        done = work_dir / f"{current['id']}.json"
        if done.exists():
            result = json.loads(done.read_text())
            result["log"] = str(log)
            pending.pop(0)
            on_result(current, result)
            last_progress = time.monotonic()
            continue
        rc = proc.poll()
        started = work_dir / f"{current['id']}.start"
        if rc is not None:
            if done.exists():  # finished just before exiting
                continue
            if stop.is_set():  # killed by us on Ctrl-C: not the cell's fault
                return []
            if started.exists():
                pending.pop(0)
                on_result(current, {"status": "crash", "error_type": "WorkerDied",
                                    "error": f"worker died ({describe_exit(rc)}) on this cell; "
                                             f"log tail:\n{log_tail(log)}", "log": str(log)})
                return pending  # a fresh worker takes the rest
            # Died before starting a cell: TF does not import, or the batch is unreadable.
            reason = _startup_failure(work_dir, rc, log)
            for req in pending:
                on_result(req, {"status": "crash", "error_type": "WorkerStartFailed",
                                "error": reason, "log": str(log)})
            return []
        now = time.monotonic()
        if started.exists() and time.time() - started.stat().st_mtime > cell_timeout:
            _kill(proc)
            pending.pop(0)
            on_result(current, {"status": "timeout", "error_type": "Timeout",
                                "error": f"cell exceeded its {cell_timeout:g} s limit",
                                "log": str(log)})
            return pending
        if not started.exists() and now - last_progress > startup_timeout:
            _kill(proc)
            for req in pending:
                on_result(req, {"status": "timeout", "error_type": "Timeout",
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


def _startup_failure(work_dir: Path, rc: int, log: Path) -> str:
    versions = work_dir / "versions.json"
    if versions.exists():
        info = json.loads(versions.read_text())
        if "import_error" in info:
            err = info["import_error"]
            return f"TensorFlow does not import here: {err['error_type']}: {err['error']}"
    return f"worker exited ({describe_exit(rc)}) before its first cell; log tail:\n{log_tail(log)}"
