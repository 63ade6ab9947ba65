"""What a run tells a person while it works.

The runner reports structured events; a Progress decides how they look.  Events:

    run_started(run_dir, cells)   the run folder exists: progress.log goes there; cells = to do
    phase(name, total)            a phase starts: "envs", "save", "load"; total = its units
                                  (saves for "save", cells for "load")
    env(name, state)              an environment's state ("creating", "ready: tf 2.16.2 ...",
                                  "saving", "loading", "done", "failed: ...")
    saved(env, model, fmt, status, error_type)   one save finished (or came from the cache)
    cell(row)                     one cell's row was written to cells.jsonl
    message(text) / __call__(text)  anything else worth a line
    error(text)                   something went wrong: shown in every mode, even --quiet
    close()                       the run is over (stop a live display)

`make_progress(mode)` picks how they look: `plain` (timestamped lines, a line per phase, per
environment and per 10% of cells: what CI and pipes see), `verbose` (a line per save and per
cell too), `quiet` (errors only), `live` (a rich display redrawn in place), `auto` (live on a
terminal, else plain).  In every mode each cell gets one line in `<run>/progress.log`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from .plan import env_name

OK_STATUSES = ("pass", "unsupported", "ok")  # not counted as failures
CELL_STEP = 10  # plain mode: a line per this many percent of the cells
SAVE_STEP = 25  # ... and of the saves
# The env states plain mode shows: where an environment ends up, not each step on the way.
PLAIN_ENV_STATES = ("ready", "reused", "unsupported", "failed", "error")
LOG_NAME = "progress.log"
UNITS = {"envs": "environments", "save": "saves", "load": "cells"}


def clock(seconds: float) -> str:
    """1:05 or 1:02:03."""
    s = int(max(0, seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def cell_text(row: dict) -> str:
    short = str(row.get("status")) + (f" ({row['error_type']})" if row.get("error_type") else "")
    save = env_name(row["save_tf"], row.get("save_device") or "cpu")
    load = env_name(row["load_tf"], row.get("load_device") or "cpu")
    return f"{save}->{load} {row['model']}/{row['format']} {row['loader']}: {short}"


class Progress:
    """Keeps the counts and progress.log; this base prints the plain, timestamped lines."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = threading.RLock()
        self.t0 = time.monotonic()
        self.run_dir: Path | None = None
        self._log = None
        self._early: list[str] = []  # lines before the run folder existed, for progress.log
        self.phase_name, self.phase_total, self.phase_done, self.phase_t0 = "", 0, 0, self.t0
        self.total = self.done = self.failed = 0
        self.saves_done = self.saves_failed = 0
        self.envs: dict[str, str] = {}
        self.env_cells: dict[str, int] = {}
        self._shown_step = 0

    # -- output --------------------------------------------------------------------------
    def _stamp(self, msg: str) -> str:
        return f"[{time.monotonic() - self.t0:6.1f}s] {msg}"

    def _logline(self, msg: str) -> None:
        line = self._stamp(msg)
        if self._log is None:
            self._early.append(line)
            return
        self._log.write(line + "\n")
        self._log.flush()

    def _show(self, msg: str) -> None:
        print(self._stamp(msg), file=self.stream, flush=True)

    # Which kinds of line reach the screen (all reach progress.log): "phase", "env"
    # (where an environment ends up), "env-step" (each step on the way), "save", "cell",
    # "step" (each 10% of a phase), "message", "error".
    SHOWN = frozenset({"phase", "env", "step", "message", "error"})

    def _emit(self, kind: str, msg: str) -> None:
        with self.lock:
            self._logline(msg)
            if kind in self.SHOWN:
                self._show(msg)

    # -- what the phase's counter says ---------------------------------------------------
    @property
    def count(self) -> int:
        """Units of the current phase done.  Cells the runner writes before the load phase
        starts (those whose save failed) count towards it."""
        return self.done if self.phase_name == "load" else self.phase_done

    def eta(self) -> float | None:
        """Seconds left in the current phase at its rate so far (None before its first unit)."""
        if not self.phase_done or not self.phase_total:
            return None
        rate = self.phase_done / max(time.monotonic() - self.phase_t0, 1e-6)
        return max(0, self.phase_total - self.count) / rate

    def _step_line(self, unit: str, failed: int, step: int) -> str | None:
        """The line for the next `step`% of the phase, when the phase just crossed it (once)."""
        if not self.phase_total or self._shown_step >= 100:
            return None
        count = self.count
        pct = min(100, count * 100 // self.phase_total)
        final = count >= self.phase_total
        if not final and pct < self._shown_step + step:
            return None
        self._shown_step = 100 if final else pct - pct % step
        eta = self.eta()
        tail = f", ETA {clock(eta)}" if eta and not final else ""
        return (f"{self.phase_name}: {count}/{self.phase_total} {unit} ({pct}%), "
                f"{failed} failed{tail}")

    # -- events --------------------------------------------------------------------------
    def run_started(self, run_dir: Path, cells: int) -> None:
        with self.lock:
            self.run_dir = Path(run_dir)
            self.total = cells
            self._log = open(self.run_dir / LOG_NAME, "a", encoding="utf-8")  # noqa: SIM115
            self._log.write("".join(line + "\n" for line in self._early))
            self._early.clear()
        with self.lock:  # the runner's own message says it on the screen
            self._logline(f"run {run_dir}: {cells} cells")

    def phase(self, name: str, total: int) -> None:
        with self.lock:
            self.phase_name, self.phase_total = name, total
            self.phase_done, self.phase_t0, self._shown_step = 0, time.monotonic(), 0
            if name == "load" and not self.total:
                self.total = total
        self._emit("phase", f"{name.upper()} phase: {total}")

    def env(self, name: str, state: str) -> None:
        with self.lock:
            self.envs[name] = state
        kind = "env" if state.startswith(PLAIN_ENV_STATES) else "env-step"
        if kind == "env" and self.phase_name == "envs":
            with self.lock:
                self.phase_done += 1
        self._emit(kind, f"env {name}: {state}")

    def saved(self, env: str, model: str, fmt: str, status: str,
              error_type: str | None = None) -> None:
        with self.lock:
            self.saves_done += 1
            self.saves_failed += status not in OK_STATUSES
            step = None
            if self.phase_name == "save":
                self.phase_done += 1
                step = self._step_line("saves", self.saves_failed, SAVE_STEP)
        self._emit("save", f"save {env}: {model}/{fmt} {status}"
                   + (f" ({error_type})" if error_type else ""))
        if step:
            self._emit("step", step)

    def cell(self, row: dict) -> None:
        with self.lock:
            self.done += 1
            self.failed += row.get("status") not in OK_STATUSES
            step = None
            if self.phase_name == "load":
                self.phase_done += 1
                step = self._step_line("cells", self.failed, CELL_STEP)
            load = env_name(row["load_tf"], row.get("load_device") or "cpu")
            self.env_cells[load] = self.env_cells.get(load, 0) + 1
            done = self.done
        self._emit("cell", f"cell {done}/{self.total or '?'}: {cell_text(row)}")
        if step:
            self._emit("step", step)

    def message(self, text: str) -> None:
        self._emit("message", text)

    __call__ = message

    def error(self, text: str) -> None:
        self._emit("error", f"error: {text}")

    def summary(self) -> str:
        where = f"; log: {self.run_dir / LOG_NAME}" if self.run_dir else ""
        return (f"{self.done} cells, {self.failed} failed, in "
                f"{clock(time.monotonic() - self.t0)}{where}")

    def close(self) -> None:
        with self.lock:
            if self._log is not None:
                self._log.close()
                self._log = None


class VerboseProgress(Progress):
    """A line per save and per cell, as the harness printed before it had a display."""

    SHOWN = frozenset({"phase", "env", "env-step", "save", "cell", "message", "error"})


class QuietProgress(Progress):
    """Nothing on the screen but errors; progress.log still gets everything."""

    SHOWN = frozenset({"error"})


def make_progress(mode: str = "auto", stream=None) -> Progress:
    """The Progress for a mode: auto, live, plain, verbose or quiet."""
    stream = stream or sys.stderr
    if mode == "auto":
        tty = hasattr(stream, "isatty") and stream.isatty()
        mode = "live" if tty and os.environ.get("TERM") != "dumb" else "plain"
    if mode == "live":
        return LiveProgress(stream)
    kinds = {"plain": Progress, "verbose": VerboseProgress, "quiet": QuietProgress}
    if mode not in kinds:
        raise ValueError(f"unknown progress mode {mode!r}: auto, live, {', '.join(kinds)}")
    return kinds[mode](stream)


MAX_ENV_ROWS = 12  # a nightly has 20 environments: the busy ones first, the rest counted


class LiveProgress(Progress):
    """A rich display redrawn in place on a terminal: the phase with a bar, cells done/total,
    failures so far, elapsed and ETA, and each environment's state.  Messages and errors
    scroll above it; cells go to progress.log only."""

    def __init__(self, stream=None):
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.stream, highlight=False)
        self.live = Live(console=self.console, get_renderable=self.render,
                         refresh_per_second=4, transient=True, redirect_stdout=False,
                         redirect_stderr=False)
        self.live.start()

    def _show(self, msg: str) -> None:
        self.console.print(self._stamp(msg), markup=False)

    # the display itself shows phases, environments and counts: only the rest scrolls by
    SHOWN = frozenset({"message", "error"})

    def _headline(self):
        from rich.text import Text

        elapsed = time.monotonic() - self.t0
        eta = self.eta()
        name = (self.phase_name or "start").upper()
        unit = UNITS.get(self.phase_name, "")
        failed = self.saves_failed if self.phase_name == "save" else self.failed
        text = Text()
        text.append(f"{name:<5} ", style="bold")
        text.append(f"{self.count}/{self.phase_total or '?'} {unit}  ")
        text.append(f"{failed} failed", style="red" if failed else "green")
        text.append(f"  elapsed {clock(elapsed)}")
        text.append(f"  ETA {clock(eta)}" if eta is not None else "  ETA -")
        if self.phase_name != "load" and self.total:
            text.append(f"  ({self.total} cells to load)", style="dim")
        return text

    def _env_rows(self) -> list[tuple[str, str]]:
        rows = []
        for name, state in self.envs.items():
            if self.env_cells.get(name):  # whatever the runner last said, the cells it loaded
                state = f"{state} · {self.env_cells[name]} cells loaded"
            rows.append((name, state))
        busy = [r for r in rows if not r[1].startswith(("done", "ready"))]
        rest = [r for r in rows if r not in busy]
        shown = (busy + rest)[:MAX_ENV_ROWS]
        if len(rows) > len(shown):
            shown.append(("...", f"{len(rows) - len(shown)} more environment(s)"))
        return shown

    def render(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        with self.lock:
            screen = Table.grid()
            screen.add_row(self._headline())
            screen.add_row(ProgressBar(total=self.phase_total or None,
                                       completed=self.count, width=60))
            envs = Table.grid(padding=(0, 2))
            for name, state in self._env_rows():
                envs.add_row(f"  {name}", state)
            screen.add_row(envs)
        return screen

    def close(self) -> None:
        with self.lock:
            if self.live.is_started:
                self.live.stop()
                self.console.print(f"done: {self.summary()}", markup=False)
        super().close()
