"""What a run tells a person while it works.

The runner reports structured events; a Progress decides how they look.  Events:

    run_started(run_dir, cells)   the run folder exists: progress.log goes there; cells = to do
    phase(name, total)            a phase starts: "envs", "save", "load"; total = its units
                                  (saves for "save", cells for "load")
    env(name, state)              an environment's state ("creating", "ready: tf 2.16.2 ...",
                                  "saving", "loading", "done", "failed: ...")
    plan(saves, cells, jobs, save_workers)   what the run will do: saves per save environment,
                                  cells per (save environment, load environment), the -j slots
                                  and how many save workers an environment gets (for the ETA)
    worker(env, phase, change)    a worker process of `env` started (+1) or ended (-1) its
                                  "save" or "load" work
    saved(env, model, fmt, status, error_type, seconds)   one save finished (seconds: the
                                  worker's own; None when it came from the cache)
    cell(row)                     one cell's row was written to cells.jsonl
    message(text) / __call__(text)  anything else worth a line
    error(text)                   something went wrong: shown in every mode, even --quiet
    close()                       the run is over (stop a live display)

`make_progress(mode)` picks how they look: `plain` (timestamped lines, a line per phase, per
environment and per 10% of cells: what CI and pipes see), `verbose` (a line per save and per
cell too), `quiet` (errors only), `live` (a rich display redrawn in place), `auto` (live on a
terminal, else plain).  In every mode each cell gets one line in `<run>/progress.log`.

The ETA is the run's, not a phase's: `simulate` plays the rest of the run forward from what
is left in each environment, at the seconds per save and per cell measured there so far, on
the run's -j slots (saves first, loads only once their save is recorded, a fresh worker's TF
import, a slot freed by a finished environment taken by another).  Without a plan (a caller
that sends none) it falls back to the current phase's rate.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..plan.cells import env_name

OK_STATUSES = ("pass", "unsupported", "ok")  # not counted as failures
CELL_STEP = 10  # plain mode: a line per this many percent of the cells
SAVE_STEP = 25  # ... and of the saves
# The env states plain mode shows: where an environment ends up, not each step on the way.
PLAIN_ENV_STATES = ("ready", "reused", "unsupported", "failed", "error")
LOG_NAME = "progress.log"
UNITS = {"envs": "environments", "save": "saves", "load": "cells"}
# Before this run has measured them: a TF import (design.md: 8-10 s here), a save, a load cell
# (harness.run.load_phase CELL_SECONDS).
IMPORT_PRIOR, SAVE_PRIOR, CELL_PRIOR = 8.0, 1.0, 0.2
EXTRA_MARGIN = 1.5  # harness.run.load_phase IMPORT_MARGIN: when an extra load worker starts
SIM_STEPS = 400  # simulate(): the rest of the run in about this many steps
ETA_EVERY = 0.5  # seconds: the live display asks 4 times a second, the simulation runs twice


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


@dataclass
class Outlook:
    """What is left of a run, per environment: what `simulate` plays forward.  Work is in
    seconds of a worker's time (counts x the seconds per unit measured there)."""

    jobs: int
    save_workers: int = 1  # at most, per save environment (harness.run.runner save_groups)
    saves: dict[str, float] = field(default_factory=dict)  # save env -> its saves' seconds left
    ready: dict[str, float] = field(default_factory=dict)  # load env -> loads fed, not done
    blocked: dict[tuple[str, str], float] = field(default_factory=dict)  # (save env, load env)
    #                                          -> loads whose save is not recorded yet
    running: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (env, phase)
    #                                          -> each worker's TF import seconds still ahead
    import_seconds: float = IMPORT_PRIOR


def simulate(o: Outlook) -> float:
    """Seconds until the work in `o` is done on its slots, the way harness.run.slots gives them out:
    saves first (no load worker starts while a save environment waits for a slot); a load
    worker only where loads are fed, the environment with the most first; an extra one only
    while its share of what is left there is worth EXTRA_MARGIN TF imports; a save worker whose
    environment loads goes on loading there (no import); a worker ends when its environment has
    nothing left, and its slot goes to other work.  A save feeds its cells as it goes
    (pro rata)."""
    saves = {e: w for e, w in o.saves.items() if w > 1e-9}
    ready = dict(o.ready)
    blocked = {k: w for k, w in o.blocked.items() if w > 1e-9}
    for s, load in list(blocked):
        if s not in saves:  # its saves are done: fed
            ready[load] = ready.get(load, 0.0) + blocked.pop((s, load))
    workers = [[phase, env, imp] for (env, phase), imps in o.running.items() for imp in imps]
    _end(o, workers, saves, ready, blocked)  # save workers done saving go on loading, or end
    total = sum(saves.values()) + sum(ready.values()) + sum(blocked.values())
    if total <= 1e-9:
        return 0.0
    dt = max(0.25, (total / max(1, o.jobs) + o.import_seconds) / SIM_STEPS)
    t = 0.0
    for _ in range(SIM_STEPS * 10):
        _fill(o, workers, saves, ready, blocked)
        if not saves and not blocked and all(w <= 1e-9 for w in ready.values()):
            break
        _advance(workers, dt, saves, ready, blocked)
        _end(o, workers, saves, ready, blocked)
        t += dt
    return t


def _left(load: str, ready: dict, blocked: dict) -> float:
    return ready.get(load, 0.0) + sum(w for (_, lo), w in blocked.items() if lo == load)


def _claim(o: Outlook, load: str, workers: list, ready: dict, blocked: dict) -> float:
    """harness.run.load_phase._score: 0 = no worker for `load` now, else higher first."""
    if ready.get(load, 0.0) <= 1e-9:
        return 0.0
    n = sum(1 for w in workers if w[0] == "load" and w[1] == load)
    if n == 0:
        return 1e6 + ready[load]
    share = _left(load, ready, blocked) / (n + 1)
    return share if share >= EXTRA_MARGIN * o.import_seconds else 0.0


def _saves_waiting(o: Outlook, workers: list, saves: dict) -> bool:
    return any(sum(1 for w in workers if w[0] == "save" and w[1] == env) < o.save_workers
               for env in saves)


def _fill(o: Outlook, workers: list, saves: dict, ready: dict, blocked: dict) -> None:
    free = o.jobs - len(workers)
    for env in saves:
        have = sum(1 for w in workers if w[0] == "save" and w[1] == env)
        while have < o.save_workers and free > 0:
            workers.append(["save", env, o.import_seconds])
            have, free = have + 1, free - 1
    if _saves_waiting(o, workers, saves):
        return
    while free > 0:
        best = max(ready, key=lambda lo: _claim(o, lo, workers, ready, blocked), default=None)
        if best is None or not _claim(o, best, workers, ready, blocked):
            return
        workers.append(["load", best, o.import_seconds])
        free -= 1


def _advance(workers: list, dt: float, saves: dict, ready: dict, blocked: dict) -> None:
    spare: dict[tuple[str, str], float] = {}
    for w in workers:
        used = min(dt, w[2])
        w[2] -= used
        spare[(w[0], w[1])] = spare.get((w[0], w[1]), 0.0) + dt - used
    for env in list(saves):
        done = min(saves[env], spare.get(("save", env), 0.0))
        if done <= 0:
            continue
        share = done / saves[env]
        saves[env] -= done
        last = saves[env] <= 1e-9
        if last:
            del saves[env]
        for key in [k for k in blocked if k[0] == env]:
            fed = blocked[key] if last else blocked[key] * share
            blocked[key] -= fed
            ready[key[1]] = ready.get(key[1], 0.0) + fed
            if last:
                del blocked[key]
    for load in ready:
        ready[load] = max(0.0, ready[load] - spare.get(("load", load), 0.0))


def _end(o: Outlook, workers: list, saves: dict, ready: dict, blocked: dict) -> None:
    for w in list(workers):
        if w[0] == "save" and w[1] not in saves:
            workers.remove(w)  # its saves are done: it goes on loading there, or ends
            if not _saves_waiting(o, workers, saves) and _claim(o, w[1], workers, ready,
                                                                 blocked):
                workers.append(["load", w[1], 0.0])
        elif w[0] == "load" and _left(w[1], ready, blocked) <= 1e-9:
            workers.remove(w)


def _costs(times: dict[tuple[str, str], list[float]], whole: set, prior: float,
           full: dict[tuple[str, str], list[float]] | None = None):
    """Seconds per unit of (environment, model): its own mean where the model is done there
    (`whole`: a model's first units, its savedmodel, cost several times its last); else the
    model's mean in the other environments, scaled by how this environment compares with them
    on the models both did; else the mean model of this environment (of every one, scaled):
    models differ (rnn saves 5x slower than mlp) and cells are fed model by model; else
    `prior`.  Until
    some model is done somewhere, every mean so far.  An environment that has done no model
    yet is taken to do the full work on each (`full`: the cells that loaded, not those that
    failed fast; its cells pass more often where it is the save's own version)."""
    def mean_of(table):
        means = {k: sum(v) / len(v) for k, v in table.items() if v and k in whole}
        return means or {k: sum(v) / len(v) for k, v in table.items() if v}
    means = mean_of(times)
    fulls = mean_of(full) if full else means

    def median(xs: list[float]) -> float | None:
        xs = sorted(xs)
        return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2 if xs else None

    def typical(xs: list[float]) -> float:  # geometric mean: between the mean and median
        return math.exp(sum(math.log(max(x, 1e-6)) for x in xs) / len(xs))

    def cost(env: str, model: str) -> float:
        if (env, model) in means:
            return means[(env, model)]
        if fulls is not means and not any(e == env for e, _ in means):
            return _costs(full, whole, prior)(env, model)
        others = {m: [v for (e, mm), v in means.items() if mm == m and e != env]
                  for m in {m for _, m in means}}
        others = {m: sum(v) / len(v) for m, v in others.items() if v}
        ratios = [means[(env, m)] / others[m] for m in others
                  if (env, m) in means and others[m] > 0]
        level = median(ratios) or 1.0
        if model in others:
            return others[model] * level
        mine = [v for (e, _), v in means.items() if e == env]
        if mine:
            return typical(mine)
        every = list(others.values())
        return typical(every) * level if every else prior
    return cost


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
        # for the ETA (plan, worker, saved, cell): what is planned, done and measured where
        self.saves_total = 0
        self.jobs = 0  # 0 = no plan came: the ETA is the phase's rate
        self.save_workers = 1
        # keyed by (save env, model) and (save env, load env, model): models differ 5x
        self.planned_saves: dict[tuple[str, str], int] = {}
        self.planned_cells: dict[tuple[str, str, str], int] = {}
        self.env_saves: dict[tuple[str, str], int] = {}
        self.pair_cells: dict[tuple[str, str, str], int] = {}
        self.instant = 0  # cells finished without a load (their save failed, reused)
        self.save_times: dict[tuple[str, str], list[float]] = {}  # its fresh saves' seconds
        self.cell_times: dict[tuple[str, str], list[float]] = {}  # (load env, model): loads'
        self.full_times: dict[tuple[str, str], list[float]] = {}  # ... of those that passed
        self.running: dict[tuple[str, str], int] = {}  # (env, phase) -> workers
        self.starting: dict[tuple[str, str], list[float]] = {}  # ... their TF import begun at
        self.imports: list[float] = []  # TF imports measured (a worker's start to its first)
        self._eta: tuple[float, float | None] | None = None  # (when, seconds) last simulated

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
        """Seconds left in the run: `simulate` on what is left, re-run at most every ETA_EVERY
        seconds.  Without a plan, or before a save or cell was measured (all from the caches
        so far), the current phase's rate (None before its first unit)."""
        now = time.monotonic()
        with self.lock:
            if not self.jobs or self.phase_name not in ("save", "load"):
                return self._phase_eta(now)
            if self._eta is None or now - self._eta[0] >= ETA_EVERY:
                outlook = self.outlook(now)
                self._eta = (now, simulate(outlook) if outlook else None)
            when, left = self._eta
            if left is None:  # nothing measured: every save and cell so far came from a cache
                return self._phase_eta(now)
            return max(0.0, left - (now - when))

    def _phase_eta(self, now: float) -> float | None:
        if not self.phase_done or not self.phase_total:
            return None
        rate = self.phase_done / max(now - self.phase_t0, 1e-6)
        return max(0, self.phase_total - self.count) / rate

    def outlook(self, now: float) -> Outlook | None:
        """What is left, in seconds of work per environment, from the plan, the counts and
        the seconds measured so far (None before the first measured save or cell)."""
        if not self.save_times and not self.cell_times:
            return None
        saved = {k for k, n in self.planned_saves.items() if self.env_saves.get(k, 0) >= n}
        left: dict[tuple[str, str], int] = {}
        for (_, lo, m), n in self.planned_cells.items():
            left[(lo, m)] = left.get((lo, m), 0) + n
        for (_, lo, m), n in self.pair_cells.items():
            left[(lo, m)] = left.get((lo, m), 0) - n
        loaded = {k for k, n in left.items() if n <= 0}
        save_cost = _costs(self.save_times, saved, SAVE_PRIOR)
        cell_cost = _costs(self.cell_times, loaded, CELL_PRIOR, self.full_times)
        o = Outlook(jobs=self.jobs, save_workers=self.save_workers,
                    import_seconds=max(self.imports) if self.imports else IMPORT_PRIOR)
        fed = {k: self.env_saves.get(k, 0) / n for k, n in self.planned_saves.items() if n}
        for (e, m), n in self.planned_saves.items():
            o.saves[e] = o.saves.get(e, 0.0) + max(0, n - self.env_saves.get((e, m), 0)) \
                * save_cost(e, m)
        released = sum(n * fed.get((s, m), 1.0) for (s, _, m), n in self.planned_cells.items())
        loads = 1 - min(1.0, self.instant / released) if released else 1.0
        for (s, lo, m), n in self.planned_cells.items():
            out = n * min(1.0, fed.get((s, m), 1.0))
            o.ready[lo] = o.ready.get(lo, 0.0) + max(
                0.0, out - self.pair_cells.get((s, lo, m), 0)) * cell_cost(lo, m)
            if out < n:
                o.blocked[(s, lo)] = o.blocked.get((s, lo), 0.0) + (n - out) * loads \
                    * cell_cost(lo, m)
        for key, n in self.running.items():
            if key[1] == "follow":
                continue
            if key[1] == "save":
                n -= self.running.get((key[0], "follow"), 0)
            begun = self.starting.get(key, [])
            o.running[key] = ([max(0.0, o.import_seconds - (now - t)) for t in begun]
                              + [0.0] * max(0, n - len(begun)))
        return o

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

    def plan(self, saves: dict[tuple[str, str], int], cells: dict[tuple[str, str, str], int],
             jobs: int, save_workers: int = 1) -> None:
        """What the run will do (for the ETA): the saves of each (save environment, model)
        that runs here, the cells of each (save environment, load environment, model) whose
        load environment runs here, the -j slots and the save workers an environment gets."""
        with self.lock:
            self.planned_saves, self.planned_cells = dict(saves), dict(cells)
            self.jobs, self.save_workers = max(1, jobs), max(1, save_workers)
            self.saves_total = self.saves_total or sum(saves.values())

    def worker(self, env: str, phase: str, change: int, *, fresh: bool = True) -> None:
        """A worker process began (+1) or ended (-1) its `phase` work in `env`; `fresh`: it
        has TF to import first (a save worker that goes on loading has not)."""
        key = (env, phase)
        with self.lock:
            if not fresh:  # a save worker that goes on loading: counted once, as a loader
                self.running[(env, "follow")] = max(0, self.running.get((env, "follow"), 0)
                                                    + change)
            self.running[key] = max(0, self.running.get(key, 0) + change)
            begun = self.starting.setdefault(key, [])
            if change > 0 and fresh:
                begun.append(time.monotonic())
            del begun[self.running[key]:]  # a worker that ended before its first unit

    def _imported(self, key: tuple[str, str], seconds) -> None:
        """A unit finished in `key`: its oldest worker still importing TF has imported,
        unless a save worker that went on loading there (TF imported) could have done it."""
        begun = self.starting.get(key)
        took = time.monotonic() - begun[0] - (seconds or 0.0) if begun else 0.0
        imp = max(self.imports) if self.imports else IMPORT_PRIOR
        if begun and (not self.running.get((key[0], "follow")) or took >= imp / 2):
            begun.pop(0)
            if key[1] == "save" or not self.imports:  # a load worker may have waited for
                self.imports.append(max(0.0, took))  # its feed: a save's import is cleaner
        self._eta = None

    def phase(self, name: str, total: int) -> None:
        with self.lock:
            if name == "save":
                self.saves_total = total
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
              error_type: str | None = None, seconds: float | None = None) -> None:
        with self.lock:
            self.saves_done += 1
            self.saves_failed += status not in OK_STATUSES
            self.env_saves[(env, model)] = self.env_saves.get((env, model), 0) + 1
            if isinstance(seconds, (int, float)):
                self.save_times.setdefault((env, model), []).append(float(seconds))
                self._imported((env, "save"), seconds)
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
            self._timed(row, load)
            done = self.done
        self._emit("cell", f"cell {done}/{self.total or '?'}: {cell_text(row)}")
        if step:
            self._emit("step", step)

    def _timed(self, row: dict, load: str) -> None:
        save = env_name(row["save_tf"], row.get("save_device") or "cpu")
        key = (save, load, row["model"])
        self.pair_cells[key] = self.pair_cells.get(key, 0) + 1
        seconds = row.get("seconds")
        if row.get("reused_from") or (seconds is None
                                      and row.get("status") in ("save-error", "unsupported")):
            self.instant += 1  # settled when its save was recorded: no worker loaded it
        elif isinstance(seconds, (int, float)):
            self.cell_times.setdefault((load, row["model"]), []).append(float(seconds))
            if row.get("status") in ("pass", "mismatch"):  # it did the whole work
                self.full_times.setdefault((load, row["model"]), []).append(float(seconds))
            self._imported((load, "load"), seconds)

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
        text = Text()
        both = self.phase_name in ("save", "load") and self.saves_done < self.saves_total
        if both:
            # the saves run beside the loads (harness.run.runner): count both while they do
            text.append("SAVE  ", style="bold")
            text.append(f"{self.saves_done}/{self.saves_total} saves")
            if self.saves_failed:
                text.append(f" ({self.saves_failed} failed)", style="red")
            text.append("  LOAD ", style="bold")
            text.append(f"{self.done}/{self.total or '?'} cells  ")
            failed = self.failed
        else:
            name = (self.phase_name or "start").upper()
            unit = UNITS.get(self.phase_name, "")
            failed = self.saves_failed if self.phase_name == "save" else self.failed
            text.append(f"{name:<5} ", style="bold")
            text.append(f"{self.count}/{self.phase_total or '?'} {unit}  ")
        text.append(f"{failed} failed", style="red" if failed else "green")
        text.append(f"  elapsed {clock(elapsed)}")
        text.append(f"  ETA {clock(eta)}" if eta is not None else "  ETA -")
        if self.phase_name != "load" and self.total and not both:
            text.append(f"  ({self.total} cells to load)", style="dim")
        return text

    def _env_rows(self) -> list[tuple[str, str]]:
        rows = []
        for name, state in self.envs.items():
            planned = sum(n for (e, _), n in self.planned_saves.items() if e == name)
            saved = sum(n for (e, _), n in self.env_saves.items() if e == name)
            if planned and saved < planned:
                state = f"{state} · {saved}/{planned} saved"
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
