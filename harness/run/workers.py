"""How a phase starts one worker batch: its slot (harness.run.slots), a fresh work folder in
the run, the run's options (timeout, memory limit, batch size) and its stop event; and how
the run's jobs run in threads, every worker killed on an interrupt."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plan.cells import env_name
from . import batch as worker_batch
from .context import Layout, RunOptions
from .progress import Progress


@dataclass
class Workers:
    opts: RunOptions
    layout: Layout
    progress: Progress
    stop: threading.Event
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: Any = None  # harness.run.slots.Slots, once the phases know how many saves there are

    def work_dir(self, phase: str, env) -> Path:
        """A fresh folder for one worker batch: load chunks of one environment and a resumed
        run's second attempt never mix their files."""
        base = self.layout.run_path / "work" / f"{phase}-{env.key}"
        with self.lock:
            path, i = base, 1
            while path.exists():
                i += 1
                path = base.with_name(f"{base.name}.{i}")
            path.mkdir(parents=True)
            return path

    def batch(self, env, phase: str, requests: list, on_result, *, feed=None,
              two_cpus: bool = False, then=None) -> None:
        """One worker batch in `env`.  Its slot: a save batch waits for one here (one of the
        counted saves, harness.run.slots); a load worker got its own before (LoadPipeline).
        `then`: the save worker may go on as a load worker (harness.run.batch.run_batch)."""
        if phase != "save":
            self._batch(env, phase, requests, on_result, feed=feed, two_cpus=two_cpus)
            return
        with self.slots.save():
            name = env_name(env.spec.label, env.spec.device)
            self.progress.worker(name, "save", +1)
            try:
                self._batch(env, phase, requests, on_result, feed=feed, two_cpus=two_cpus,
                            then=then)
            finally:
                self.progress.worker(name, "save", -1)

    def _batch(self, env, phase: str, requests: list, on_result, *, feed, two_cpus,
               then=None) -> None:
        if self.stop.is_set():
            return
        streamed = feed is not None or then is not None
        worker_batch.run_batch(
            env, phase, requests, self.work_dir(phase, env), on_result=on_result,
            cell_timeout=self.opts.cell_timeout, stop=self.stop,
            memory_limit_mb=self.opts.memory_limit_mb, feed=feed, two_cpus=two_cpus,
            budget=self.opts.batch_size, mounts=self.layout.mounts() if streamed else None,
            then=then)

    def parallel(self, jobs: list, on_abort=None) -> None:
        """Run jobs in threads (each starts its worker processes within the slots); on any
        exception every job is stopped, `on_abort()` called and every worker killed."""
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            futures = [pool.submit(fn) for fn in jobs]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:  # Ctrl-C, SIGTERM, a host I/O error or a bug
                self.stop.set()
                if on_abort:
                    on_abort()  # e.g. no load worker waits for saves any more
                for fut in futures:
                    fut.cancel()
                worker_batch.kill_all()
                raise
