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
from collections import deque
from collections.abc import Callable
from pathlib import Path

from .. import procs
from ..errors import HarnessError
from ..worker import outcomes

# How often a worker's files are looked at.  A worker that finished what it was handed waits
# for the host's next look, so this is a cell's worst added latency (a stat or two per look).
POLL_SECONDS = 0.05
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


class Feed:
    """Requests that become ready while their workers already run (pipelined phases): the
    load requests of an artifact as soon as it is saved.  Every worker of one environment pulls
    from the same feed, a few requests at a time, so a worker started late shares what is left."""

    def __init__(self, requests: list | None = None):
        self._items = deque(requests or [])
        self._closed = False
        self._cond = threading.Condition()

    def put(self, requests: list) -> None:
        with self._cond:
            self._items.extend(requests)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, n: int) -> list:
        with self._cond:
            return [self._items.popleft() for _ in range(min(n, len(self._items)))]

    def nap(self, timeout: float) -> None:
        """Sleep `timeout`, or less if requests arrive meanwhile (while the feed has none)."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
                return
        time.sleep(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Until there is something to take or nothing more will come; True if ready."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed, timeout)
            return bool(self._items) or self._closed

    @property
    def exhausted(self) -> bool:
        with self._cond:
            return self._closed and not self._items

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


IN_FLIGHT = 4  # requests handed to one streamed worker ahead of the one it is on
EXIT_GRACE_SECONDS = 0.1  # a worker with nothing left may exit on its own within this


def run_batch(env, phase: str, requests: list, work_dir: Path, *,
              on_result: Callable, cell_timeout: float = 600,
              startup_timeout: float = 600, stop: threading.Event | None = None,
              memory_limit_mb: int | None = None, feed: Feed | None = None,
              two_cpus: bool = False, budget: int | None = None,
              mounts: list | None = None, then: Callable | None = None) -> None:
    """Run `requests` (SaveRequest/LoadRequest, or their JSON dicts), then whatever `feed`
    hands out until it is closed and empty, through workers in `env`, until every one has a
    result, or until `stop` is set (Ctrl-C, SIGTERM): then the worker is killed and no further
    result is reported, so a killed cell is never recorded as a crash and `--resume` does it
    again.  A worker that dies because the disk is full stops the run (HostIOError), it does not
    make a `crash` cell.  `two_cpus`: some request of the feed needs two logical CPUs; `budget`:
at most this many fed requests per worker process (a fresh one takes the rest: bounds memory).
`then()`: asked once when `requests` are done, returns a Feed the same worker goes on with (a
save worker that loads next: one TF import for both) or None (it ends)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    pending = list(requests)
    attempt = 0
    stop = stop or threading.Event()
    source = _Source(feed, then)
    while (pending or source.open) and not stop.is_set():
        attempt += 1
        batch_file = work_dir / f"batch-{attempt}.json"
        batch = {"phase": phase, "out_dir": str(work_dir),
                 "requests": [_request_json(r) for r in pending]}
        if source.streamed:
            batch["feed"] = f"feed-{attempt}-"
        if two_cpus:
            batch["two_cpus"] = True
        if mounts:  # folders fed requests will name (a container must see them from the start)
            batch["mounts"] = [str(m) for m in mounts]
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
                             startup_timeout, stop, _Stream(source, work_dir, attempt, budget))
        finally:
            with _live_lock:
                _live.discard(proc)
            if proc.poll() is None:
                _kill(proc)


class _Source:
    """Where a batch's further requests come from, across its workers: a feed from the start,
    or one that `then()` gives once the batch's own requests are done, or none."""

    def __init__(self, feed: Feed | None, then: Callable | None):
        self.feed, self.then = feed, then

    @property
    def streamed(self) -> bool:  # the worker is told to read feed files (and an end marker)
        return self.feed is not None or self.then is not None

    @property
    def open(self) -> bool:  # more may come
        return self.feed is not None and not self.feed.exhausted

    def go_on(self) -> bool:
        """The batch's own requests are done: take up the follow-on feed (once); True if
        there is one."""
        if self.feed is None and self.then is not None:
            then, self.then = self.then, None
            self.feed = then()
        return self.feed is not None


class _Stream:
    """One worker's share of a feed: feed files `feed-<attempt>-<k>.json`, then `...end`."""

    def __init__(self, source: _Source, work_dir: Path, attempt: int,
                 budget: int | None = None):
        self.source, self.work_dir, self.prefix, self.k = source, work_dir, f"feed-{attempt}-", 0
        self.ended = False
        self.announced = source.streamed  # the worker was told to read feed files
        self.budget, self.fed = budget, 0

    @property
    def feed(self) -> Feed | None:
        return self.source.feed

    @property
    def spent(self) -> bool:
        return bool(self.budget) and self.fed >= self.budget

    def has_room(self, pending: list) -> bool:
        """The worker may be handed more (from the feed) than the `pending` it has."""
        return self.feed is not None and len(pending) < IN_FLIGHT and not self.spent

    def top_up(self, pending: list) -> bool:
        """Hand the worker more requests while it has few; True if it got some."""
        if not self.has_room(pending):
            return False
        want = IN_FLIGHT - len(pending)
        if self.budget:
            want = min(want, self.budget - self.fed)
        items = self.feed.take(want)
        if not items:
            return False
        tmp = self.work_dir / f"{self.prefix}{self.k}.json.tmp"
        _write_host_file(tmp, json.dumps([_request_json(r) for r in items]))
        os.replace(tmp, self.work_dir / f"{self.prefix}{self.k}.json")
        self.k += 1
        self.fed += len(items)
        pending.extend(items)
        return True

    def done(self) -> bool:
        """Nothing more will come: tell the worker (once) and say so."""
        if not self.source.go_on():
            if self.announced:
                self._end()
            return True
        if not self.feed.exhausted and not self.spent:
            return False
        self._end()
        return True

    def _end(self) -> None:
        if not self.ended:
            _write_host_file(self.work_dir / f"{self.prefix}end", "")
            self.ended = True


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
           stop, stream: _Stream) -> list:
    """Follow one worker process; return the requests a fresh worker must still do."""
    last_progress = time.monotonic()
    while True:
        if stop.is_set():
            _kill(proc)
            return []
        if stream.top_up(pending):
            last_progress = time.monotonic()
        if not pending:
            if stream.done():
                break
            rc = proc.poll()
            if rc is not None:  # died between cells, waiting for its feed
                return _no_cell_running(rc, pending, stream, stop, work_dir, log, on_result)
            stream.feed.wait(POLL_SECONDS)
            last_progress = time.monotonic()
            continue
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
            if not started.exists():  # before its first cell
                return _no_cell_running(rc, pending, stream, stop, work_dir, log, on_result)
            if stop.is_set():  # killed by us on Ctrl-C: not the cell's fault
                return []
            _check_disk(rc, work_dir, log)
            pending.pop(0)
            on_result(current, {"status": outcomes.CRASH, "error_type": "WorkerDied",
                                "error": f"worker died ({describe_exit(rc)}) on this cell; "
                                         f"log tail:\n{log_tail(log)}", "log": str(log)})
            return pending  # a fresh worker takes the rest (and the feed)
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
            for req in _drain_all(pending, stream, stop):
                on_result(req, {"status": outcomes.TIMEOUT, "error_type": "Timeout",
                                "error": f"worker started no cell within {startup_timeout:g} s",
                                "log": str(log)})
            return []
        if stream.has_room(pending):
            stream.feed.nap(POLL_SECONDS)  # wakes as soon as the worker can be handed more
        else:
            time.sleep(POLL_SECONDS)
    # All done: every result is in and the worker was told nothing more comes.  What it has
    # left is its interpreter's teardown (TF's and Keras's take about 0.6 s), which holds a slot
    # and finishes nothing: a short grace, then it is killed.
    try:
        proc.wait(timeout=EXIT_GRACE_SECONDS)
    except Exception:
        _kill(proc)
    return []


def _check_disk(rc: int, work_dir: Path, log: Path) -> None:
    """A worker that died on a full disk stops the run: it is never its cells' fault."""
    if disk_full(work_dir, log):
        raise HostIOError(f"the worker in {work_dir.name} died ({describe_exit(rc)}) "
                          "and the disk is full (No space left on device)")


def _no_cell_running(rc: int, pending: list, stream: _Stream, stop: threading.Event,
                     work_dir: Path, log: Path, on_result) -> list:
    """The worker exited while on no cell (before its first, or waiting for its feed): TF does
    not import here, the batch is unreadable, or the machine killed it.  Unless we stopped it or
    the disk is full, every request it would get fails the same way (nothing is left for a
    fresh worker)."""
    if stop.is_set():
        return []
    _check_disk(rc, work_dir, log)
    reason = _startup_failure(work_dir, rc, log)
    for req in _drain_all(pending, stream, stop):
        on_result(req, {"status": outcomes.CRASH, "error_type": "WorkerStartFailed",
                        "error": reason, "log": str(log)})
    return []


def _drain_all(pending: list, stream: _Stream, stop: threading.Event) -> list:
    """A worker that cannot start fails every request it would get: the ones it has and,
    until the feed is closed, the rest (a fresh worker would fail the same way)."""
    out = list(pending)
    pending.clear()
    while stream.feed is not None and not stream.feed.exhausted and not stop.is_set():
        stream.feed.wait(POLL_SECONDS)
        out.extend(stream.feed.take(len(stream.feed)))
    return out


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
