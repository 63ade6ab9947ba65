"""The run's worker slots (-j): at most that many worker processes at once, given out by
priority instead of by whichever thread asks first.

- Saves first: a save job that waits for a slot is served before any load worker, and no load
  worker starts while a save job still waits (it would hold the slot the save needs; saves feed
  the loads).  So the loads of an environment start as soon as every save has a slot, which is
  at once where saves need fewer slots than -j (the quick start), and the moment the last saves
  start elsewhere (a nightly), not only when all saves are over.
- Among load workers, the one with the highest `score()` (harness.run.load_phase): an
  environment's first worker before an extra one, the environment with the most cells ready
  first; an extra worker for an environment only while its share of what is left there is worth
  another TF import (work stealing at the end of a run, when one environment has most cells).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager

POLL_SECONDS = 0.25  # scores change without notice (a feed grows): look again this often


class Slots:
    def __init__(self, n: int, saves: int = 0, stop: threading.Event | None = None):
        self.free = max(1, n)
        self.saves_waiting = saves  # save jobs that will ask (counted before they start)
        self.cond = threading.Condition()
        self.stop = stop or threading.Event()
        self.waiters: dict[int, Callable[[], float | None]] = {}
        self._next = 0

    @contextmanager
    def save(self):
        """A slot for a save job counted in `saves`; before any waiting load worker."""
        with self.cond:
            self.cond.wait_for(lambda: self.free > 0)
            self.free -= 1
            self.saves_waiting -= 1
            self.cond.notify_all()
        try:
            yield
        finally:
            self.release()

    def expect_saves(self, n: int) -> None:
        """`n` more save batches will ask (a save job split its saves by model)."""
        with self.cond:
            self.saves_waiting += n

    def saves_pending(self) -> bool:
        """Some save job still waits for a slot (or has not asked yet)."""
        with self.cond:
            return self.saves_waiting > 0

    def save_skipped(self) -> None:
        """A counted save job that will not ask after all (stopped, or nothing to save)."""
        with self.cond:
            self.saves_waiting -= 1
            self.cond.notify_all()

    def load(self, score: Callable[[], float | None]) -> bool:
        """Wait for a slot for a load worker.  `score()`: None = never (nothing left for it:
        give up, False), <= 0 = not now, else its priority.  True once it holds a slot (give
        it back with release())."""
        with self.cond:
            me = self._next
            self._next += 1
            self.waiters[me] = score
            try:
                while True:
                    if self.stop.is_set():
                        return False
                    mine = score()
                    if mine is None:
                        return False
                    if self.free > 0 and self.saves_waiting <= 0 and mine > 0 \
                            and self._best() == me:
                        self.free -= 1
                        return True
                    self.cond.wait(POLL_SECONDS)
            finally:
                del self.waiters[me]
                self.cond.notify_all()

    def _best(self) -> int | None:
        best, top = None, 0.0
        for key, score in self.waiters.items():  # in the order they asked: ties go first-come
            s = score()
            if s is not None and s > top:
                best, top = key, s
        return best

    def release(self) -> None:
        with self.cond:
            self.free += 1
            self.cond.notify_all()
