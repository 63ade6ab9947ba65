"""A run from start to end: plan -> environments -> SAVE and LOAD phases -> rows.

The plan comes from harness.run.planning (a matrix or explicit cells, a shard, `--resume`).
Environments are keyed by their `EnvSpec`.  The phases (harness.run.save_phase, load_phase)
see only a PhaseContext (harness.run.context) and send their outcomes back through it to this
Run, its Sink: a recorded save feeds its loads; a finished cell becomes its row
(harness.verdict.rows.build_row) in the run folder (harness.results.store).  At most `jobs`
workers (one TF process each) run at a time (harness.run.workers, slots)."""

from __future__ import annotations

import time
from pathlib import Path

from .. import clock
from ..cache.loads import LoadCache
from ..cache.saves import SaveCache
from ..envs import get_backend
from ..plan.cells import Cell, env_name
from ..plan.presaved import Presaved
from ..plan.specs import EnvSpec
from ..results.store import RunData, RunDir, RunError, read_run
from ..scrub import machine_paths
from ..verdict.rows import LoadOutcome, Side, build_row
from .context import Layout, PhaseContext, RunOptions
from .load_phase import LoadPipeline
from .planning import plan_run
from .progress import Progress
from .record import env_info, planned_work, run_info
from .save_phase import save_jobs
from .slots import Slots
from .workers import Workers

__all__ = ["Presaved", "Run", "RunOptions", "RunError", "Progress"]


class Run:
    def __init__(self, opts: RunOptions, progress: Progress | None = None):
        self.opts = opts
        self.progress = progress or Progress()
        self.previous: RunData | None = read_run(opts.resume) if opts.resume else None
        self.plan = plan_run(opts, self.previous)
        self.matrix, self.shard, self.planned = self.plan.matrix, self.plan.shard, self.plan.planned
        self.cells = self.plan.cells
        self.layout = Layout({}, {p.key: p for p in opts.presaved})
        backend = get_backend(opts.backend)
        specs = dict.fromkeys([Layout.save_spec(c) for c in self.cells
                               if not self.layout.presaved_of(c)]
                              + [Layout.load_spec(c) for c in self.cells])
        self.envs = self.layout.envs
        self.envs.update({s: backend(s, opts.cache_dir, as_of=self.matrix.as_of,
                                     python=opts.python) for s in specs})
        saves = opts.save_cache_dir or Path(opts.cache_dir) / "saves"
        self.ctx = PhaseContext(
            opts, self.cells, self.envs, {}, self.layout,
            SaveCache(saves) if opts.save_cache else None,
            LoadCache(Path(opts.cache_dir) / "loads") if opts.load_cache else None,
            self.progress, None, self)
        self.ctx.workers = Workers(opts, self.layout, self.progress, self.ctx.stop)
        self.unavailable, self.stop, self.run = self.ctx.unavailable, self.ctx.stop, None
        self.tally = self.ctx.tally  # what the run reused: save_hits, reused
        self.done = 0

    # -- environments -------------------------------------------------------------------
    def prepare_envs(self) -> None:
        for env in self.envs.values():  # every spec checked before the first install
            env.check()
        self.progress.phase("envs", len(self.envs))
        for spec, env in self.envs.items():
            name = env_name(spec.label, spec.device)
            self.progress.env(name, "preparing")
            t = time.monotonic()
            reason = env.prepare(progress=self.progress)
            if reason:
                self.unavailable[spec] = reason
                self.progress.env(name, f"unsupported: {reason}")
                continue
            self.progress.env(name, f"ready: tf {env.info.get('tf')}, keras "
                                    f"{env.info.get('keras')}, numpy {env.info.get('numpy')} "
                                    f"({time.monotonic() - t:.1f}s)")

    def side(self, spec: EnvSpec) -> Side:
        return Side.of(env_name(spec.label, spec.device), self.envs[spec])

    # -- the run folder -----------------------------------------------------------------
    def _open_run(self) -> None:
        if self.previous:
            self.run = RunDir.open(self.previous.path)
            info = dict(self.previous.info)
            info.setdefault("resumed", []).append({"at": clock.now(), "cells": len(self.cells),
                                                   "command": self.opts.command})
            info["environments"] = (info.get("environments") or {}) | env_info(self)
            self.run.write_run_info(info)
        else:
            self.run = RunDir.create(self.opts.results_dir, self.opts.run_id)
            self.run.write_run_info(run_info(self))
        (self.run.path / "artifacts").mkdir(exist_ok=True)
        self.layout.run_path = self.run.path
        paths = {str(getattr(env, "path", "")): f"<env {env_name(s.label, s.device)}>"
                 for s, env in self.envs.items() if getattr(env, "path", None)}
        self.ctx.paths = machine_paths(paths | {str(self.run.path.resolve()): "<run>",
                                                str(self.run.path): "<run>",
                                                str(Path(self.opts.cache_dir)): "<cache>"})

    # -- the run ------------------------------------------------------------------------
    def execute(self) -> RunDir:
        if self.previous:
            self.progress.message(
                f"resume {self.previous.path}: {len(self.planned) - len(self.cells)} of "
                f"{len(self.planned)} cells already done, {len(self.cells)} to go")
        if not self.cells:
            self.progress.message("nothing to do")
            return RunDir(self.previous.path) if self.previous else \
                RunDir.create(self.opts.results_dir, self.opts.run_id)
        if not self.previous:  # a used --run-id or an unusable --results-dir: before installs
            RunDir.check_new(self.opts.results_dir, self.opts.run_id)
        self.prepare_envs()
        self._open_run()
        started = getattr(self.progress, "run_started", None)
        if started:
            started(self.run.path, len(self.cells))
        self.progress.message(f"run {self.run.path}: {len(self.cells)} cells"
                              + (f" (shard {self.shard[0]}/{self.shard[1]})"
                                 if self.shard else ""))
        t0 = time.monotonic()
        self._phases()
        tally = self.ctx.tally
        if self.opts.save_only:
            self.progress.message(f"save only: {len(self.layout.saved)} saves, "
                                  f"{tally.save_hits} from the save cache; no cell loaded")
        info = self.run.read_info()
        info |= {"finished": clock.now(), "seconds": round(time.monotonic() - t0, 1),
                 "save_cache_hits": tally.save_hits, "load_cache_hits": tally.reused}
        self.run.write_run_info(info)
        self.progress.message(f"done: {self.done}/{len(self.cells)} cells in "
                              f"{self.run.cells_file}")
        return self.run

    def _phases(self) -> None:
        """SAVE and LOAD at once: at most -j worker processes, given out by harness.run.slots:
        saves first; load workers as soon as no save waits for a slot (their TF import overlaps
        the last saves, and they take each artifact as soon as it is recorded), the environment
        with the most cells ready first, and a second worker for an environment while what is
        left there is worth another TF import."""
        ctx, jobs = self.ctx, self.opts.jobs
        ctx.pipeline = None if self.opts.save_only else LoadPipeline(ctx)
        saves = save_jobs(ctx)
        # a save environment's saves split by model across the slots, less one for the load
        # workers beside them (where there are loads): the loads start at once
        spare = jobs - 1 if ctx.pipeline is not None and jobs > 1 else jobs
        ctx.save_groups = max(1, spare // max(1, len(saves)))
        self.progress.plan(*planned_work(ctx), jobs=jobs, save_workers=ctx.save_groups)
        ctx.workers.slots = Slots(jobs, saves=len(saves), stop=self.stop)
        loads = ctx.pipeline.start() if ctx.pipeline else []
        left = [len(saves)]

        def save_then_count(job):
            try:
                job()
            finally:
                with ctx.lock:
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    self._saves_finished()

        if not saves:
            self._saves_finished()
        ctx.workers.parallel([lambda j=j: save_then_count(j) for j in saves] + loads,
                             on_abort=self._saves_finished)

    def _saves_finished(self) -> None:
        if self.ctx.pipeline:
            self.ctx.pipeline.close()

    # -- the Sink: outcomes from the phases -----------------------------------------------
    def record_saved(self, key: tuple, result: dict) -> None:
        """A save's outcome: kept for its cells' rows, and its cells handed to the loads."""
        self.layout.saved[key] = result
        if self.ctx.pipeline:
            self.ctx.pipeline.saved(key)

    def finish(self, cell: Cell, saved: dict, *, load: LoadOutcome | None = None,
               unavailable: str | None = None, reused_from: str | None = None) -> None:
        if self.stop.is_set():
            return  # interrupted: this cell is left for --resume
        pre = self.layout.presaved_of(cell)
        save_side = (Side(pre.save_tf, pre.versions, pre.identity) if pre
                     else self.side(Layout.save_spec(cell)))
        tolerance = ((lambda fmt, dtype: pre.tolerance) if pre and pre.tolerance
                     else self.matrix.tolerance)
        row = build_row(cell, saved, save_side, self.side(Layout.load_spec(cell)),
                        load=load, unavailable=unavailable, tolerance_for_dtype=tolerance,
                        paths=self.ctx.paths, reused_from=reused_from)
        self.run.append(row, sync=reused_from is None)
        with self.ctx.lock:
            self.done += 1
        self.progress.cell(row)
