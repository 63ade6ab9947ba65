"""What a run tells a person while it works.

The runner reports structured events; a Progress decides how they look.  This plain version
prints timestamped lines on stderr (what CI and pipes see).  Events:

    phase(name, total)            a phase starts: "envs", "save", "load"; total = its units
    env(name, state)              an environment's state ("creating", "ready: tf 2.16.2 ...")
    saved(env, model, fmt, status, error_type)   one save finished (or came from the cache)
    cell(row)                     one cell's row was written to cells.jsonl
    message(text) / __call__(text)  anything else worth a line
    close()                       the run is over (stop a live display)
"""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.total = 0
        self.done = 0
        self.failed = 0

    def _line(self, msg: str) -> None:
        with self.lock:
            print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        self._line(text)

    __call__ = message

    def phase(self, name: str, total: int) -> None:
        if name == "load":
            self.total = total
        self._line(f"{name.upper()} phase: {total}")

    def env(self, name: str, state: str) -> None:
        self._line(f"env {name}: {state}")

    def saved(self, env: str, model: str, fmt: str, status: str,
              error_type: str | None = None) -> None:
        self._line(f"save {env}: {model}/{fmt} {status}"
                   + (f" ({error_type})" if error_type else ""))

    def cell(self, row: dict) -> None:
        with self.lock:
            self.done += 1
            self.failed += row.get("status") not in ("pass", "unsupported")
            done = self.done
        short = row["status"] + (f" ({row['error_type']})" if row.get("error_type") else "")
        self._line(f"cell {done}/{self.total}: {row['save_tf']}->{row['load_tf']} "
                   f"{row['model']}/{row['format']} {row['loader']}: {short}")

    def close(self) -> None:
        pass
