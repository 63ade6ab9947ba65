"""A run from start to end: plan -> environments -> SAVE phase -> LOAD phase.

The plan is a matrix (harness.plan.matrix) turned into cells, or an explicit list of cells whose
artifacts exist already (harness.plan.presaved: fixtures, `try`); optionally one shard of them, and
only the cells an interrupted run still misses (`--resume`).  Environments are keyed by their
`EnvSpec`.  The phases live in harness.run.save_phase and harness.run.load_phase; at most `jobs`
workers (one TF process each) run at a time.  Every row is built by harness.verdict.rows.build_row
(Run.finish); this module only decides what runs where and keeps the run folder.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..cache.loads import LoadCache
from ..cache.saves import SaveCache
from ..envs import default_cache_dir, get_backend
from ..plan import shards
from ..plan.cells import Cell, env_name
from ..plan.matrix import Matrix, from_flags
from ..plan.presaved import Presaved
from ..plan.requests import LoadRequest
from ..plan.shards import shard_cells
from ..plan.specs import EnvSpec
from ..results.store import RunData, RunDir, RunError, read_run
from ..verdict.rows import LoadOutcome, Side, build_row, machine_paths
from . import batch as execute
from .load_phase import LoadPipeline
from .progress import Progress
from .save_phase import save_jobs
from .slots import Slots

__all__ = ["Presaved", "Run", "RunOptions", "RunError", "Progress"]


@dataclass
class RunOptions:
    save: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)
    models: list[str] | None = None
    formats: list[str] | None = None
    loaders: list[str] | None = None
    devices: list[str] | None = None
    save_devices: list[str] | None = None
    load_devices: list[str] | None = None
    matrix: Matrix | None = None  # when given, the axes above are not used
    results_dir: Path = Path("results")
    cache_dir: Path = field(default_factory=default_cache_dir)
    backend: str = "uv"
    as_of: str | None = None
    python: str | None = None
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    cell_timeout: float = 600.0
    run_id: str | None = None
    shard: tuple[int, int] | None = None
    shard_costs: object | None = None  # shards.Costs: cut the shards by measured seconds
    resume: Path | None = None  # a run folder: finish only the cells it does not have yet
    only: set[tuple] | None = None  # Cell.key()s: run only these cells of the plan (pytest)
    save_cache: bool = True
    save_cache_dir: Path | None = None  # default: the cache dir (saves/ beside envs/)
    batch_size: int = 500  # load requests per worker process: bounds a worker's memory
    command: list[str] | None = None
    save_only: bool = False  # fill the save cache, load nothing (e.g. before shards)
    unsafe: bool = False  # let Keras loaders deserialize code (Lambda layers)
    memory_limit_mb: int | None = None  # per worker process
    load_cache: bool = True  # reuse a load cell's result when nothing deciding it changed
    baseline: bool = False  # --save X --load Y also loads X under X (the CLI: unless --no-baseline)
    cells: list[Cell] | None = None  # an explicit plan (fixtures, try): no matrix expansion
    presaved: list[Presaved] = field(default_factory=list)  # artifacts not saved by this run


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


SaveKey = tuple[EnvSpec, str, str]  # (save environment, model, format)


class Run:
    def __init__(self, opts: RunOptions, progress: Progress | None = None):
        self.opts = opts
        self.progress = progress or Progress()
        self.previous: RunData | None = read_run(opts.resume) if opts.resume else None
        self.matrix, self.shard = self._matrix()
        if opts.as_of:
            self.matrix.as_of = opts.as_of
        self.presaved = {p.key: p for p in opts.presaved}
        planned = list(opts.cells) if opts.cells is not None else self.matrix.cells()
        self.shard_bounds, self.shard_costs_source = None, None
        if self.shard:
            span = self._shard_span(planned)
            if span is None:
                planned = shard_cells(planned, *self.shard)
            else:
                self.shard_bounds = span
                planned = shards.slice_cells(planned, span)
        if opts.only is not None:
            planned = [c for c in planned if c.key() in opts.only]
        self.planned = planned
        done = self.previous.present if self.previous else set()
        self.cells = [c for c in planned if c.key() not in done]
        backend = get_backend(opts.backend)
        specs = dict.fromkeys([self.save_spec(c) for c in self.cells if not self.presaved_of(c)]
                              + [self.load_spec(c) for c in self.cells])
        self.envs = {s: backend(s, opts.cache_dir, as_of=self.matrix.as_of, python=opts.python)
                     for s in specs}
        self.unavailable: dict[EnvSpec, str] = {}  # environment -> why it cannot run here
        saves = opts.save_cache_dir or Path(opts.cache_dir) / "saves"
        self.cache = SaveCache(saves) if opts.save_cache else None
        self.loads = LoadCache(Path(opts.cache_dir) / "loads") if opts.load_cache else None
        self.load_keys: dict[LoadRequest, str | None] = {}
        self.reused = 0
        self.save_groups = 1
        self.slots: Slots | None = None
        self.pipeline: LoadPipeline | None = None
        self.run: RunDir | None = None
        self.saved: dict[SaveKey, dict] = {}
        self.cache_hits = 0
        self.done = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()  # set on Ctrl-C / SIGTERM: no more rows, no more workers

    def _matrix(self) -> tuple[Matrix, tuple[int, int] | None]:
        if self.previous:
            return self._resumed_matrix()
        if self.opts.cells is not None and self.opts.matrix is None:
            return _matrix_of(self.opts.cells), None
        return self.opts.matrix or from_flags(
            self.opts.save, self.opts.load, self.opts.models, self.opts.formats,
            self.opts.loaders, self.opts.devices, self.opts.save_devices,
            self.opts.load_devices, baseline=self.opts.baseline), self.opts.shard

    def _resumed_matrix(self) -> tuple[Matrix, tuple[int, int] | None]:
        m = self.previous.info.get("matrix") or {}
        if isinstance(m.get("cell_keys"), list) and self.previous.planned is not None:
            self.opts.cells = self.previous.planned  # an explicit plan, and its artifacts
            self.opts.presaved = [Presaved.from_json(d) for d in m.get("presaved") or []]
            return _matrix_of(self.opts.cells), None
        if not isinstance(m.get("definition"), dict):
            raise RunError(f"--resume {self.opts.resume}: run.json has no matrix to resume")
        if isinstance(m.get("only"), list):
            self.opts.only = {tuple(k) for k in m["only"]}
        shard = tuple(m["shard"]) if m.get("shard") else None
        return Matrix.from_dict(m["definition"]), shard

    def _shard_span(self, planned: list[Cell]) -> tuple[int, int] | None:
        """This shard's [lo, hi) in shard order: the one a resumed run recorded, else cut by
        the given costs; None: the plain count-based slice."""
        m = (self.previous.info.get("matrix") or {}) if self.previous else {}
        if m.get("shard_bounds"):
            lo, hi = m["shard_bounds"]
            self.shard_costs_source = m.get("shard_costs")
            return int(lo), int(hi)
        if self.opts.shard_costs is None:
            return None
        k, n = self.shard
        self.shard_costs_source = self.opts.shard_costs.source
        return shards.bounds(planned, n, self.opts.shard_costs)[k - 1]

    def presaved_of(self, c: Cell) -> Presaved | None:
        return self.presaved.get((c.save_tf, c.model, c.format))

    @staticmethod
    def save_spec(c: Cell) -> EnvSpec:
        return EnvSpec.parse(c.save_tf, device=c.save_device)

    @staticmethod
    def load_spec(c: Cell) -> EnvSpec:
        return EnvSpec.parse(c.load_tf, device=c.load_device)

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

    # -- run.json -----------------------------------------------------------------------
    def _run_info(self) -> dict:
        m = self.matrix
        devices = list(dict.fromkeys(m.save_devices + m.load_devices))
        return {
            "run_id": self.run.path.name,
            "command": self.opts.command,
            "started": _now(),
            "matrix": {"spec": m.source if m.source != "command line" else None,
                       "name": m.name, "save": m.save, "load": m.load, "models": m.models,
                       "formats": m.formats, "loaders": m.loaders, "devices": devices,
                       "as_of": m.as_of, "backend": self.opts.backend,
                       "shard": list(self.shard) if self.shard else None,
                       "shard_bounds": list(self.shard_bounds) if self.shard_bounds else None,
                       "shard_costs": self.shard_costs_source,
                       "only": ([list(k) for k in sorted(self.opts.only)]
                                if self.opts.only is not None else None),
                       "cells": len(self.planned), "definition": m.to_dict(),
                       "cell_keys": ([list(c.key()) for c in self.planned]
                                     if self.opts.cells is not None else None),
                       "presaved": [p.to_json() for p in self.presaved.values()] or None},
            "environments": self._env_info(),
            "save_cache": str(self.cache.root) if self.cache else None,
            "options": {"jobs": self.opts.jobs, "cell_timeout": self.opts.cell_timeout,
                        "python": self.opts.python, "batch_size": self.opts.batch_size,
                        "unsafe": self.opts.unsafe},
        }

    def _env_info(self) -> dict:
        return {env_name(s.label, s.device): {
            "key": env.key, "backend": env.backend, "label": s.label, "device": s.device,
            "requested": env.requested(), "resolved": env.info,
            "unsupported": self.unavailable.get(s)} for s, env in self.envs.items()}

    def _open_run(self) -> None:
        if self.previous:
            self.run = RunDir.open(self.previous.path)
            info = dict(self.previous.info)
            info.setdefault("resumed", []).append({"at": _now(), "cells": len(self.cells),
                                                   "command": self.opts.command})
            info["environments"] = (info.get("environments") or {}) | self._env_info()
            self.run.write_run_info(info)
        else:
            self.run = RunDir.create(self.opts.results_dir, self.opts.run_id)
            self.run.write_run_info(self._run_info())
        (self.run.path / "artifacts").mkdir(exist_ok=True)
        paths = {str(getattr(env, "path", "")): f"<env {env_name(s.label, s.device)}>"
                 for s, env in self.envs.items() if getattr(env, "path", None)}
        self.paths = machine_paths(paths | {str(self.run.path.resolve()): "<run>",
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
        if self.opts.save_only:
            self.progress.message(f"save only: {len(self.saved)} saves, {self.cache_hits} "
                                  "from the save cache; no cell loaded")
        info = self.run.read_info()
        info |= {"finished": _now(), "seconds": round(time.monotonic() - t0, 1),
                 "save_cache_hits": self.cache_hits, "load_cache_hits": self.reused}
        self.run.write_run_info(info)
        self.progress.message(f"done: {self.done}/{len(self.cells)} cells in "
                              f"{self.run.cells_file}")
        return self.run

    # -- the phases, pipelined -----------------------------------------------------------
    def _phases(self) -> None:
        """SAVE and LOAD at once: at most -j worker processes, given out by harness.run.slots:
        saves first; load workers as soon as no save waits for a slot (their TF import overlaps
        the last saves, and they take each artifact as soon as it is recorded), the environment
        with the most cells ready first, and a second worker for an environment while what is
        left there is worth another TF import."""
        jobs = self.opts.jobs
        self.pipeline = None if self.opts.save_only else LoadPipeline(self)
        saves = save_jobs(self)
        # a save environment's saves split by model across the slots, less one for the load
        # workers beside them (where there are loads): the loads start at once
        spare = jobs - 1 if self.pipeline is not None and jobs > 1 else jobs
        self.save_groups = max(1, spare // max(1, len(saves)))
        self.progress.plan(*self._planned(), jobs=jobs, save_workers=self.save_groups)
        self.slots = Slots(jobs, saves=len(saves), stop=self.stop)
        loads = self.pipeline.start() if self.pipeline else []
        left = [len(saves)]

        def save_then_count(job):
            try:
                job()
            finally:
                with self.lock:
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    self._saves_finished()

        if not saves:
            self._saves_finished()
        self.parallel([lambda j=j: save_then_count(j) for j in saves] + loads)

    def _planned(self) -> tuple[dict, dict]:
        """For the progress display's ETA: saves per (save environment, model) where the save
        environment runs here, cells per (save environment, load environment, model) where the
        load environment does."""
        saves: dict[tuple[str, str], int] = {}
        for spec, model, _ in {(self.save_spec(c), c.model, c.format) for c in self.cells
                               if not self.presaved_of(c)}:
            if spec not in self.unavailable:
                key = (env_name(spec.label, spec.device), model)
                saves[key] = saves.get(key, 0) + 1
        cells: dict[tuple[str, str, str], int] = {}
        if self.pipeline is not None:
            for c in self.cells:
                if self.load_spec(c) not in self.unavailable:
                    key = (env_name(c.save_tf, c.save_device),
                           env_name(c.load_tf, c.load_device), c.model)
                    cells[key] = cells.get(key, 0) + 1
        return saves, cells

    def _saves_finished(self) -> None:
        if self.pipeline:
            self.pipeline.close()

    def record_saved(self, key: tuple, result: dict) -> None:
        """A save's outcome: kept for its cells' rows, and its cells handed to the loads."""
        self.saved[key] = result
        if self.pipeline:
            self.pipeline.saved(key)

    def save_key(self, c: Cell) -> tuple:
        pre = self.presaved_of(c)
        return ("presaved", *pre.key) if pre else (self.save_spec(c), c.model, c.format)

    @staticmethod
    def is_presaved(key: tuple) -> bool:
        return key[0] == "presaved"

    def parallel(self, jobs: list) -> None:
        """Run jobs in threads (each starts its worker processes within the slots)."""
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            futures = [pool.submit(fn) for fn in jobs]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:  # Ctrl-C, SIGTERM, a host I/O error or a bug
                self.stop.set()
                self._saves_finished()  # no load worker waits for saves any more
                for fut in futures:
                    fut.cancel()
                execute.kill_all()
                raise

    def artifact_dir(self, spec: EnvSpec, model: str, fmt: str | None = None) -> Path:
        base = self.run.path / "artifacts" / self.envs[spec].key / model
        return base / fmt if fmt else base

    def work_dir(self, phase: str, env) -> Path:
        """A fresh folder for one worker batch: load chunks of one environment and a resumed
        run's second attempt never mix their files."""
        base = self.run.path / "work" / f"{phase}-{env.key}"
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
        if phase == "save":
            with self.slots.save():
                name = env_name(env.spec.label, env.spec.device)
                self.progress.worker(name, "save", +1)
                try:
                    self._batch(env, phase, requests, on_result, feed=feed, two_cpus=two_cpus,
                                then=then)
                finally:
                    self.progress.worker(name, "save", -1)
        else:
            self._batch(env, phase, requests, on_result, feed=feed, two_cpus=two_cpus)

    def _batch(self, env, phase: str, requests: list, on_result, *, feed, two_cpus,
               then=None) -> None:
        if self.stop.is_set():
            return
        streamed = feed is not None or then is not None
        execute.run_batch(env, phase, requests, self.work_dir(phase, env),
                          on_result=on_result, cell_timeout=self.opts.cell_timeout,
                          stop=self.stop, memory_limit_mb=self.opts.memory_limit_mb,
                          feed=feed, two_cpus=two_cpus, budget=self.opts.batch_size,
                          mounts=self._mounts() if streamed else None, then=then)

    def _mounts(self) -> list[Path]:
        """Where the artifacts of fed requests live: the run's, and those of pre-saved ones."""
        out = [self.run.path / "artifacts"]
        for p in self.presaved.values():
            out += [p.artifact_dir, p.reference_dir]
        return out

    def artifact_of(self, c: Cell) -> tuple[Path, Path]:
        pre = self.presaved_of(c)
        if pre:
            return pre.artifact_dir, pre.reference_dir
        spec = self.save_spec(c)
        return self.artifact_dir(spec, c.model, c.format), self.artifact_dir(spec, c.model)

    def saved_of(self, c: Cell) -> dict:
        pre = self.presaved_of(c)
        if pre:
            return pre.saved()
        return self.saved.get((self.save_spec(c), c.model, c.format), {})

    def tolerance(self, c: Cell):
        pre = self.presaved_of(c)
        if pre and pre.tolerance:
            return lambda fmt, dtype: pre.tolerance
        return self.matrix.tolerance

    def save_side(self, c: Cell) -> Side:
        pre = self.presaved_of(c)
        if pre:
            return Side(pre.save_tf, pre.versions, pre.identity)
        return self.side(self.save_spec(c))

    def finish(self, cell: Cell, saved: dict, *, load: LoadOutcome | None = None,
                unavailable: str | None = None, reused_from: str | None = None) -> None:
        if self.stop.is_set():
            return  # interrupted: this cell is left for --resume
        row = build_row(cell, saved, self.save_side(cell), self.side(self.load_spec(cell)),
                        load=load, unavailable=unavailable,
                        tolerance_for_dtype=self.tolerance(cell), paths=self.paths,
                        reused_from=reused_from)
        self.run.append(row, sync=reused_from is None)
        with self.lock:
            self.done += 1
        self.progress.cell(row)


def _matrix_of(cells: list[Cell]) -> Matrix:
    """The axes of an explicit plan, for run.json (its cells are not a matrix expansion)."""
    return Matrix(save=list(dict.fromkeys(c.save_tf for c in cells)),
                  load=list(dict.fromkeys(c.load_tf for c in cells)),
                  models=list(dict.fromkeys(c.model for c in cells)),
                  formats=list(dict.fromkeys(c.format for c in cells)),
                  name="cells", source="cells")
