"""A run from start to end: plan -> environments -> SAVE phase -> LOAD phase.

The plan is a matrix (harness.matrix) turned into cells, optionally one shard of them,
optionally only the cells an interrupted run still misses (`--resume`).  Environments are keyed
by their `EnvSpec`.  Saves go through the verified save cache (harness.save_cache); loads are
batched per load environment, at most `jobs` workers (one TF process each) at a time.  Every
row is built by harness.rows.build_row; this module only decides what runs where.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import execute
from .envs import default_cache_dir, get_backend
from .load_cache import LoadCache
from .matrix import Matrix, from_flags
from .plan import Cell, env_name, shard_cells
from .progress import Progress
from .requests import LoadRequest, SaveRequest
from .results import RunData, RunDir, RunError, read_run
from .rows import LoadOutcome, Side, build_row, machine_paths
from .save_cache import SaveCache, place
from .specs import EnvSpec
from .worker import outcomes

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
    cells: list[Cell] | None = None  # an explicit plan (fixtures, try): no matrix expansion
    presaved: list[Presaved] = field(default_factory=list)  # artifacts not saved by this run


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


SaveKey = tuple[EnvSpec, str, str]  # (save environment, model, format)


@dataclass(frozen=True)
class Presaved:
    """An artifact this run did not save (a fixture, a user's file): its cells go straight to
    loading.  `reference_dir` holds reference.json/.npz in the worker's layout; `versions` and
    `identity` are what rows record of the producer side."""

    save_tf: str  # the producer's version label: the cells' save_tf
    model: str  # the fixture's name: the cells' model
    format: str
    artifact_dir: Path
    reference_dir: Path
    manifest: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    identity: dict = field(default_factory=dict)
    tolerance: tuple[float, float] | None = None  # replaces the per-dtype/format ones
    on_disk_format: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.save_tf, self.model, self.format)

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return d | {"artifact_dir": str(self.artifact_dir),
                    "reference_dir": str(self.reference_dir),
                    "tolerance": list(self.tolerance) if self.tolerance else None}

    @classmethod
    def from_json(cls, d: dict) -> Presaved:
        return cls(**(d | {"artifact_dir": Path(d["artifact_dir"]),
                           "reference_dir": Path(d["reference_dir"]),
                           "tolerance": tuple(d["tolerance"]) if d.get("tolerance") else None}))

    def saved(self) -> dict:
        return {"status": outcomes.OK, "manifest": self.manifest,
                "on_disk_format": self.on_disk_format or self.manifest.get("on_disk_format")}


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
        if self.shard:
            planned = shard_cells(planned, *self.shard)
        if opts.only is not None:
            planned = [c for c in planned if c.key() in opts.only]
        self.planned = planned
        done = self.previous.present if self.previous else set()
        self.cells = [c for c in planned if c.key() not in done]
        backend = get_backend(opts.backend)
        specs = dict.fromkeys([self.save_spec(c) for c in self.cells if not self._presaved(c)]
                              + [self.load_spec(c) for c in self.cells])
        self.envs = {s: backend(s, opts.cache_dir, as_of=self.matrix.as_of, python=opts.python)
                     for s in specs}
        self.unavailable: dict[EnvSpec, str] = {}  # environment -> why it cannot run here
        saves = opts.save_cache_dir or Path(opts.cache_dir) / "saves"
        self.cache = SaveCache(saves) if opts.save_cache else None
        self.loads = LoadCache(Path(opts.cache_dir) / "loads") if opts.load_cache else None
        self._load_keys: dict[LoadRequest, str | None] = {}
        self.reused = 0
        self._save_envs = 1
        self.run: RunDir | None = None
        self.saved: dict[SaveKey, dict] = {}
        self.cache_hits = 0
        self.done = 0
        self._lock = threading.Lock()
        self.stop = threading.Event()  # set on Ctrl-C / SIGTERM: no more rows, no more workers

    def _matrix(self) -> tuple[Matrix, tuple[int, int] | None]:
        if self.previous:
            return self._resumed_matrix()
        if self.opts.cells is not None and self.opts.matrix is None:
            return _matrix_of(self.opts.cells), None
        return self.opts.matrix or from_flags(
            self.opts.save, self.opts.load, self.opts.models, self.opts.formats,
            self.opts.loaders, self.opts.devices, self.opts.save_devices,
            self.opts.load_devices), self.opts.shard

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

    def _presaved(self, c: Cell) -> Presaved | None:
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
        self._save_phase()
        if self.opts.save_only:
            self.progress.message(f"save only: {len(self.saved)} saves, {self.cache_hits} "
                                  "from the save cache; no cell loaded")
        else:
            self._load_phase()
        info = self.run.read_info()
        info |= {"finished": _now(), "seconds": round(time.monotonic() - t0, 1),
                 "save_cache_hits": self.cache_hits, "load_cache_hits": self.reused}
        self.run.write_run_info(info)
        self.progress.message(f"done: {self.done}/{len(self.cells)} cells in "
                              f"{self.run.cells_file}")
        return self.run

    def _parallel(self, jobs: list) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.opts.jobs)) as pool:
            futures = [pool.submit(fn) for fn in jobs]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:  # Ctrl-C, SIGTERM, a host I/O error or a bug
                self.stop.set()
                for fut in futures:
                    fut.cancel()
                execute.kill_all()
                raise

    def _artifact_dir(self, spec: EnvSpec, model: str, fmt: str | None = None) -> Path:
        base = self.run.path / "artifacts" / self.envs[spec].key / model
        return base / fmt if fmt else base

    def _work_dir(self, phase: str, env) -> Path:
        """A fresh folder for one worker batch: load chunks of one environment and a resumed
        run's second attempt never mix their files."""
        base = self.run.path / "work" / f"{phase}-{env.key}"
        with self._lock:
            path, i = base, 1
            while path.exists():
                i += 1
                path = base.with_name(f"{base.name}.{i}")
            path.mkdir(parents=True)
            return path

    def _batch(self, env, phase: str, requests: list, on_result) -> None:
        execute.run_batch(env, phase, requests, self._work_dir(phase, env),
                          on_result=on_result, cell_timeout=self.opts.cell_timeout,
                          stop=self.stop, memory_limit_mb=self.opts.memory_limit_mb)

    # -- SAVE ---------------------------------------------------------------------------
    def _save_phase(self) -> None:
        jobs = []
        to_save = [c for c in self.cells if not self._presaved(c)]
        for spec in dict.fromkeys(self.save_spec(c) for c in to_save):
            pairs = list(dict.fromkeys((c.model, c.format) for c in to_save
                                       if self.save_spec(c) == spec))
            if spec in self.unavailable:
                for m, f in pairs:
                    self.saved[(spec, m, f)] = {"status": outcomes.UNSUPPORTED,
                                                "error_type": "NoDevice",
                                                "error": self.unavailable[spec]}
                continue
            jobs.append(lambda spec=spec, pairs=pairs: self._save_env(spec, pairs))
        self._save_envs = len(jobs)
        self.progress.phase("save", len({(self.save_spec(c), c.model, c.format)
                                          for c in to_save}))
        self._parallel(jobs)

    def _save_env(self, spec: EnvSpec, pairs: list[tuple[str, str]]) -> None:
        name = env_name(spec.label, spec.device)
        if self.cache is None:
            requests = []
            for i, (m, f) in enumerate(pairs):
                art = self._artifact_dir(spec, m, f)
                shutil.rmtree(art, ignore_errors=True)  # a resumed run re-saves, clean
                requests.append(SaveRequest(f"s{i:04d}", m, f, art, self._artifact_dir(spec, m)))
            self._save_batch(spec, requests, None)
            return
        entry = self.cache.entry(self.envs[spec])
        with entry.lock():  # another run saving the same entry: wait, then reuse its work
            requests = []
            for m, f in pairs:
                hit = entry.get(m, f)
                for line in _drain(entry):
                    self.progress.message(f"save cache: {line}")
                if hit is not None:
                    with self._lock:
                        self.cache_hits += 1
                    self._record_save(spec, m, f, hit, entry)
                    continue
                entry.prepare(m, f)
                requests.append(SaveRequest(f"s{len(requests):04d}", m, f,
                                            entry.artifact_dir(m, f), entry.reference_dir(m)))
            if len(requests) < len(pairs):
                self.progress.message(f"save {name}: {len(pairs) - len(requests)}/{len(pairs)}"
                                      " from the save cache")
            if requests:
                self._save_batch(spec, requests, entry)

    def _record_save(self, spec: EnvSpec, model: str, fmt: str, result: dict, entry) -> None:
        """Record a save result; from the cache, place the artifact into the run."""
        if entry is not None and result.get("status") == outcomes.OK:
            ref = self._artifact_dir(spec, model)
            for name in ("reference.json", "reference.npz"):
                place(entry.reference_dir(model) / name, ref / name)
            place(entry.artifact_dir(model, fmt), self._artifact_dir(spec, model, fmt))
        self.saved[(spec, model, fmt)] = result
        self.progress.saved(env_name(spec.label, spec.device), model, fmt,
                            result.get("status"), result.get("error_type"))

    def _save_batch(self, spec: EnvSpec, requests: list[SaveRequest], entry) -> None:
        def on_result(req: SaveRequest, result: dict) -> None:
            if entry is not None:
                entry.put(req.model, req.format, result)
            self._record_save(spec, req.model, req.format, result, entry)

        groups = _by_model(requests, max(1, self.opts.jobs // max(1, self._save_envs)))
        if len(groups) == 1:
            self._batch(self.envs[spec], "save", requests, on_result)
            return
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:  # within this env's -j share
            for fut in [pool.submit(self._batch, self.envs[spec], "save", g, on_result)
                        for g in groups]:
                fut.result()

    # -- LOAD ---------------------------------------------------------------------------
    def _load_phase(self) -> None:
        per_env: dict[EnvSpec, list[LoadRequest]] = {}
        for spec in dict.fromkeys(self.load_spec(c) for c in self.cells):
            requests = per_env.setdefault(spec, [])
            for c in (c for c in self.cells if self.load_spec(c) == spec):
                saved = self._saved_of(c)
                if saved.get("status") != outcomes.OK or spec in self.unavailable:
                    self._finish(c, saved, unavailable=self.unavailable.get(spec))
                    continue
                art, ref = self._artifact_of(c)
                req = LoadRequest(f"l{len(requests):04d}", c, art, ref, unsafe=self.opts.unsafe)
                if not self._reuse(req, self.envs[spec], saved):
                    requests.append(req)
        jobs = [lambda spec=spec, chunk=chunk: self._load_batch(spec, chunk)
                for spec, requests in per_env.items()
                for chunk in self._chunks(requests, len([r for r in per_env.values() if r]))]
        self.progress.phase("load", len(self.cells))
        if self.reused:
            self.progress.message(f"load cache: {self.reused} cell(s) reused (nothing that "
                                  "decides them changed); --fresh redoes them")
        self._parallel(jobs)

    def _chunks(self, requests: list, busy_envs: int) -> list[list]:
        """An environment's requests in batches: at most --batch-size each, and split further
        when fewer environments than -j have work, so every core runs a worker."""
        if not requests:
            return []
        workers = max(1, self.opts.jobs // max(1, busy_envs))
        size = max(1, min(self.opts.batch_size, -(-len(requests) // workers)))
        return [requests[i:i + size] for i in range(0, len(requests), size)]

    def _reuse(self, req: LoadRequest, env, saved: dict) -> bool:
        """Finish a cell from the load cache when an entry for exactly this artifact, load
        environment, worker code and loader exists; else remember its key for afterwards."""
        if self.loads is None:
            return False
        key = self.loads.key(req, env, saved.get("manifest") or {})
        self._load_keys[req] = key
        hit = self.loads.get(key) if key else None
        if hit is None:
            return False
        result, arrays = hit
        with self._lock:
            self.reused += 1
        self._finish(req.cell, saved, load=LoadOutcome(result | {"log": None}, arrays,
                                                        req.reference_dir),
                     reused_from=result.get("made_by_run"))
        return True

    def _load_batch(self, spec: EnvSpec, requests: list[LoadRequest]) -> None:
        def on_result(req: LoadRequest, result: dict) -> None:
            key = self._load_keys.get(req)
            if key and self.loads is not None and not self.stop.is_set():
                self.loads.put(key, result, result.get("arrays"), self.run.path.name)
            self._finish(req.cell, self._saved_of(req.cell), load=LoadOutcome(
                result, result.get("arrays"), req.reference_dir))

        self._batch(self.envs[spec], "load", requests, on_result)

    def _artifact_of(self, c: Cell) -> tuple[Path, Path]:
        pre = self._presaved(c)
        if pre:
            return pre.artifact_dir, pre.reference_dir
        spec = self.save_spec(c)
        return self._artifact_dir(spec, c.model, c.format), self._artifact_dir(spec, c.model)

    def _saved_of(self, c: Cell) -> dict:
        pre = self._presaved(c)
        if pre:
            return pre.saved()
        return self.saved.get((self.save_spec(c), c.model, c.format), {})

    def _tolerance(self, c: Cell):
        pre = self._presaved(c)
        if pre and pre.tolerance:
            return lambda fmt, dtype: pre.tolerance
        return self.matrix.tolerance

    def _save_side(self, c: Cell) -> Side:
        pre = self._presaved(c)
        if pre:
            return Side(pre.save_tf, pre.versions, pre.identity)
        return self.side(self.save_spec(c))

    def _finish(self, cell: Cell, saved: dict, *, load: LoadOutcome | None = None,
                unavailable: str | None = None, reused_from: str | None = None) -> None:
        if self.stop.is_set():
            return  # interrupted: this cell is left for --resume
        row = build_row(cell, saved, self._save_side(cell), self.side(self.load_spec(cell)),
                        load=load, unavailable=unavailable,
                        tolerance_for_dtype=self._tolerance(cell), paths=self.paths,
                        reused_from=reused_from)
        self.run.append(row)
        with self._lock:
            self.done += 1
        self.progress.cell(row)


def _by_model(requests: list[SaveRequest], groups: int) -> list[list[SaveRequest]]:
    """Save requests in at most `groups` batches, each model whole (a worker builds a model
    once and saves it in every format), balanced by request count."""
    models: dict[str, list[SaveRequest]] = {}
    for r in requests:
        models.setdefault(r.model, []).append(r)
    out: list[list[SaveRequest]] = [[] for _ in range(min(groups, len(models)) or 1)]
    for reqs in sorted(models.values(), key=len, reverse=True):
        min(out, key=len).extend(reqs)
    return [g for g in out if g]


def _matrix_of(cells: list[Cell]) -> Matrix:
    """The axes of an explicit plan, for run.json (its cells are not a matrix expansion)."""
    return Matrix(save=list(dict.fromkeys(c.save_tf for c in cells)),
                  load=list(dict.fromkeys(c.load_tf for c in cells)),
                  models=list(dict.fromkeys(c.model for c in cells)),
                  formats=list(dict.fromkeys(c.format for c in cells)),
                  name="cells", source="cells")


def _drain(entry) -> list[str]:
    """The save cache's one-line reports of entries it refused (moved aside, to be redone)."""
    rejected = getattr(entry, "rejected", None)
    if not rejected:
        return []
    out = list(rejected)
    rejected.clear()
    return out
