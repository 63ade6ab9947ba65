"""A run from start to end: plan, environments, SAVE phase, LOAD phase, rows as they finish.

A run is a matrix (harness.matrix) turned into cells, optionally one shard of them, optionally
only the cells an interrupted run still misses (`--resume`).  Environments are keyed by
(version spec, device).  Saves go through the content-addressed save cache (harness.save_cache)
unless it is turned off; loads are batched per load environment, at most `jobs` workers (one TF
process each) at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import execute, procs
from .envs import default_cache_dir, get_backend
from .errors import HarnessError
from .judge import judge
from .matrix import Matrix, from_flags
from .plan import Cell, shard_cells
from .results import COLUMNS, RunDir, read_rows
from .save_cache import SaveCache, place
from .specs import EnvSpec
from .vocab import Status

VERSION_KEYS = ("tf", "keras", "tf_keras", "numpy", "h5py", "protobuf", "python")
EnvId = tuple[str, str]  # (version spec label, device)


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


class RunError(HarnessError):
    """A run that cannot start (e.g. --resume of a folder that is not a run)."""


class Progress:
    """One line per event on stderr: what phase, how many cells done."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def __call__(self, msg: str) -> None:
        with self.lock:
            print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", file=self.stream, flush=True)


def _versions(env) -> dict:
    return {k: env.info.get(k) for k in VERSION_KEYS if env.info.get(k) is not None}


def env_name(eid: EnvId) -> str:
    """How run.json names an environment: the spec, plus the device where it is not cpu."""
    label, device = eid
    return label if device == "cpu" else f"{label}@{device}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def gpu_absent_reason() -> str | None:
    """Why this host cannot run a GPU cell, or None when it has a GPU driver."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return "no GPU on this host (nvidia-smi not found)"
    out = procs.run([smi, "-L"], timeout=60)
    if out.returncode or "GPU" not in out.stdout:
        return f"no GPU on this host (nvidia-smi -L: {(out.stderr or out.stdout).strip()[:200]})"
    return None


_GPU_PROBE = ("import os, tensorflow as tf; "
              "print('GPUS', len(tf.config.list_physical_devices('GPU')))")


def env_gpu_reason(env) -> str | None:
    """Ask TF inside the environment whether it sees a GPU (a driver is not enough: the CUDA
    wheels must match it)."""
    interp = getattr(env, "interpreter", None)
    if interp is None:
        return None  # a backend that cannot be probed from here: its worker will tell
    out = procs.run([str(interp), "-I", "-c", _GPU_PROBE], env=env.worker_env(), timeout=300)
    found = [ln for ln in out.stdout.splitlines() if ln.startswith("GPUS ")]
    if out.returncode or not found:
        return f"cannot ask TF {env.spec.label} for GPUs: {out.stderr.strip()[-300:]}"
    if found[-1].split()[1] == "0":
        return (f"TF {env.info.get('tf') or env.spec.label} sees no GPU here "
                "(tf.config.list_physical_devices('GPU') is empty)")
    return None


class Run:
    def __init__(self, opts: RunOptions, progress: Progress | None = None):
        self.opts = opts
        self.progress = progress or Progress()
        self.resumed_from: list[dict] = []
        if opts.resume:
            self.matrix, self.shard = self._resume_plan(Path(opts.resume))
        else:
            self.matrix = opts.matrix or from_flags(
                opts.save, opts.load, opts.models, opts.formats, opts.loaders, opts.devices,
                opts.save_devices, opts.load_devices)
            self.shard = opts.shard
        if opts.as_of:
            self.matrix.as_of = opts.as_of
        planned = self.matrix.cells()
        if self.shard:
            planned = shard_cells(planned, *self.shard)
        if opts.only is not None:
            planned = [c for c in planned if c.key() in opts.only]
        self.planned = planned
        self.cells = [c for c in planned if c.key() not in self._done_keys()]
        self.backend = get_backend(opts.backend)
        ids: list[EnvId] = list(dict.fromkeys(
            [(c.save_tf, c.save_device) for c in self.cells]
            + [(c.load_tf, c.load_device) for c in self.cells]))
        self.envs = {eid: self.backend(EnvSpec.parse(eid[0], device=eid[1]), opts.cache_dir,
                                       as_of=self.matrix.as_of, python=opts.python)
                     for eid in ids}
        self.unavailable: dict[EnvId, str] = {}  # env -> why its cells are unsupported
        saves = opts.save_cache_dir or Path(opts.cache_dir) / "saves"
        self.cache = SaveCache(saves) if opts.save_cache else None
        self.run: RunDir | None = None
        self.save_results: dict[tuple[EnvId, str, str], dict] = {}
        self.save_dirs: dict[tuple[EnvId, str], Path] = {}
        self.cache_hits = 0
        self.done = 0
        self._count_lock = threading.Lock()
        self.stop = threading.Event()  # set on Ctrl-C: no more rows, no more workers

    # -- resume -------------------------------------------------------------------------
    def _resume_plan(self, path: Path) -> tuple[Matrix, tuple[int, int] | None]:
        info_file = path / "run.json"
        try:
            info = json.loads(info_file.read_text())
            m = info["matrix"]
            matrix = Matrix.from_dict(m["definition"])
        except FileNotFoundError:
            raise RunError(f"--resume {path}: not a run folder (no run.json)") from None
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise RunError(f"--resume {path}: run.json has no usable matrix ({exc})") from None
        self.previous_info = info
        shard = tuple(m["shard"]) if m.get("shard") else None
        return matrix, shard

    def _done_keys(self) -> set[tuple]:
        if not self.opts.resume:
            return set()
        fields = Cell.__dataclass_fields__
        return {tuple(r.get(f) for f in fields)
                for r in read_rows(Path(self.opts.resume) / "cells.jsonl")}

    # -- environments -------------------------------------------------------------------
    def prepare_envs(self) -> None:
        for env in self.envs.values():  # every spec checked before the first install
            env.check()
        gpu_ids = [eid for eid in self.envs if eid[1] == "gpu"]
        host_reason = gpu_absent_reason() if gpu_ids else None
        for eid, env in self.envs.items():
            if eid[1] == "gpu" and host_reason:
                self.unavailable[eid] = host_reason  # never installed, never silently CPU
                self.progress(f"env {env_name(eid)}: unsupported: {host_reason}")
                continue
            t = time.monotonic()
            env.create(progress=self.progress)
            if eid[1] == "gpu":
                reason = env_gpu_reason(env)
                if reason:
                    self.unavailable[eid] = reason
            self.progress(f"env {env_name(eid)}: tf {env.info.get('tf')}, keras "
                          f"{env.info.get('keras')}, numpy {env.info.get('numpy')} "
                          f"({time.monotonic() - t:.1f}s)"
                          + (f"; unsupported: {self.unavailable[eid]}"
                             if eid in self.unavailable else ""))

    # -- the run ------------------------------------------------------------------------
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
                       "cells": len(self.planned), "definition": m.to_dict()},
            "environments": {env_name(eid): {"key": env.key, "backend": env.backend,
                                             "label": eid[0], "device": eid[1],
                                             "requested": env.requested(),
                                             "resolved": env.info,
                                             "unsupported": self.unavailable.get(eid)}
                             for eid, env in self.envs.items()},
            "save_cache": str(self.cache.root) if self.cache else None,
            "options": {"jobs": self.opts.jobs, "cell_timeout": self.opts.cell_timeout,
                        "python": self.opts.python, "batch_size": self.opts.batch_size},
        }

    def execute(self) -> RunDir:
        if self.opts.resume:
            self.run = RunDir.open(Path(self.opts.resume))
            self.progress(f"resume {self.run.path}: {len(self.planned) - len(self.cells)} of "
                          f"{len(self.planned)} cells already done, {len(self.cells)} to go")
        if not self.cells:
            self.progress("nothing to do")
            return self.run or RunDir.create(self.opts.results_dir, self.opts.run_id)
        self.prepare_envs()
        if self.opts.resume:
            info = self.previous_info
            info.setdefault("resumed", []).append({"at": _now(), "cells": len(self.cells),
                                                   "command": self.opts.command})
            new = self._run_info()["environments"]
            info["environments"] = info.get("environments", {}) | new
            self.run.write_run_info(info)
        else:
            self.run = RunDir.create(self.opts.results_dir, self.opts.run_id)
            self.run.write_run_info(self._run_info())
        self.progress(f"run {self.run.path}: {len(self.cells)} cells"
                      + (f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""))
        t0 = time.monotonic()
        self._save_phase()
        if self.opts.save_only:
            self.progress(f"save only: {len(self.save_results)} saves, {self.cache_hits} from "
                          "the save cache; no cell loaded")
        else:
            self._load_phase()
        info = json.loads((self.run.path / "run.json").read_text())
        info["finished"] = _now()
        info["seconds"] = round(time.monotonic() - t0, 1)
        info["save_cache_hits"] = self.cache_hits
        self.run.write_run_info(info)
        self.progress(f"done: {self.done}/{len(self.cells)} cells in {self.run.cells_file}")
        return self.run

    def _parallel(self, jobs: list) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.opts.jobs)) as pool:
            futures = [pool.submit(fn) for fn in jobs]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:  # Ctrl-C or a bug: stop every batch, record nothing more
                self.stop.set()
                for fut in futures:
                    fut.cancel()
                execute.kill_all()
                raise

    def _artifact_dir(self, eid: EnvId, model: str, fmt: str | None = None) -> Path:
        base = self.run.path / "artifacts" / self.envs[eid].key / model
        return base / fmt if fmt else base

    # -- SAVE ---------------------------------------------------------------------------
    def _save_phase(self) -> None:
        jobs = []
        for eid in dict.fromkeys((c.save_tf, c.save_device) for c in self.cells):
            pairs = list(dict.fromkeys((c.model, c.format) for c in self.cells
                                       if (c.save_tf, c.save_device) == eid))
            if eid in self.unavailable:
                for m, f in pairs:
                    self.save_results[(eid, m, f)] = {"status": "unsupported",
                                                      "error_type": "NoDevice",
                                                      "error": self.unavailable[eid]}
                continue
            jobs.append(lambda eid=eid, pairs=pairs: self._save_env(eid, pairs))
        self.progress(f"SAVE phase: {len(jobs)} environment(s)")
        self._parallel(jobs)

    def _save_env(self, eid: EnvId, pairs: list[tuple[str, str]]) -> None:
        if self.cache is None:
            for m, f in pairs:  # a resumed run re-saves into a clean folder
                shutil.rmtree(self._artifact_dir(eid, m, f), ignore_errors=True)
            requests = [self._save_request(i, eid, m, f, self._artifact_dir(eid, m, f),
                                           self._artifact_dir(eid, m))
                        for i, (m, f) in enumerate(pairs)]
            self._save_batch(eid, requests, None)
            return
        entry = self.cache.entry(self.envs[eid])
        with entry.lock():  # another run saving the same entry: wait, then reuse its work
            requests = []
            for m, f in pairs:
                hit = entry.get(m, f)
                if hit is not None:
                    with self._count_lock:
                        self.cache_hits += 1
                    self._saved(eid, m, f, hit, entry)
                    continue
                entry.prepare(m, f)
                requests.append(self._save_request(len(requests), eid, m, f,
                                                   entry.artifact_dir(m, f),
                                                   entry.reference_dir(m)))
            if len(requests) < len(pairs):
                self.progress(f"save {env_name(eid)}: {len(pairs) - len(requests)}/{len(pairs)} "
                              f"from the save cache {entry.path}")
            if requests:
                self._save_batch(eid, requests, entry)

    @staticmethod
    def _save_request(i: int, eid: EnvId, model: str, fmt: str, art: Path, ref: Path) -> dict:
        return {"id": f"s{i:04d}", "model": model, "format": fmt, "artifact_dir": str(art),
                "reference_dir": str(ref)}

    def _saved(self, eid: EnvId, model: str, fmt: str, result: dict, entry) -> None:
        """Record a save result; from the cache, place the artifact into the run."""
        if entry is not None and result.get("status") == "ok":
            ref = self._artifact_dir(eid, model)
            for name in ("reference.json", "reference.npz"):
                place(entry.reference_dir(model) / name, ref / name)
            place(entry.artifact_dir(model, fmt), self._artifact_dir(eid, model, fmt))
        self.save_results[(eid, model, fmt)] = result

    def _save_batch(self, eid: EnvId, requests: list[dict], entry) -> None:
        env = self.envs[eid]
        total = len(requests)
        count = [0]

        def on_result(req, result):
            count[0] += 1
            if entry is not None:
                entry.put(req["model"], req["format"], result)
            self._saved(eid, req["model"], req["format"], result, entry)
            msg = f" ({result.get('error_type')})" if result["status"] != "ok" else ""
            self.progress(f"save {env_name(eid)} {count[0]}/{total}: {req['model']}/"
                          f"{req['format']} {result['status']}{msg}")

        execute.run_batch(env, "save", requests, self._work_dir("save", env),
                          on_result=on_result, cell_timeout=self.opts.cell_timeout,
                          stop=self.stop)

    def _work_dir(self, phase: str, env) -> Path:
        """A fresh folder for one worker batch: load chunks of one environment and a resumed
        run's second attempt never mix their files."""
        base = self.run.path / "work" / f"{phase}-{env.key}"
        with self._count_lock:
            path, i = base, 1
            while path.exists():
                i += 1
                path = base.with_name(f"{base.name}.{i}")
            path.mkdir(parents=True)
            return path

    # -- LOAD ---------------------------------------------------------------------------
    def _load_phase(self) -> None:
        jobs = []
        for eid in dict.fromkeys((c.load_tf, c.load_device) for c in self.cells):
            requests = []
            for c in (c for c in self.cells if (c.load_tf, c.load_device) == eid):
                saved = self.save_results.get(((c.save_tf, c.save_device), c.model, c.format),
                                              {})
                if saved.get("status") != "ok":
                    self._finish(c, self._unsaved_fields(saved))
                    continue
                if eid in self.unavailable:
                    self._finish(c, {"status": Status.UNSUPPORTED, "error_type": "NoDevice",
                                     "error": self.unavailable[eid]})
                    continue
                save_id = (c.save_tf, c.save_device)
                requests.append({
                    "id": f"l{len(requests):04d}", "cell": c.as_dict(), "model": c.model,
                    "format": c.format, "loader": c.loader,
                    "artifact_dir": str(self._artifact_dir(save_id, c.model, c.format)),
                    "reference_dir": str(self._artifact_dir(save_id, c.model))})
            size = max(1, self.opts.batch_size)
            for i in range(0, len(requests), size):
                chunk = requests[i:i + size]
                jobs.append(lambda eid=eid, chunk=chunk: self._load_batch(eid, chunk))
        self.progress(f"LOAD phase: {len(jobs)} worker batch(es)")
        self._parallel(jobs)

    def _unsaved_fields(self, saved: dict) -> dict:
        status = saved.get("status", "crash")
        if status == "unsupported":
            return {"status": Status.UNSUPPORTED, "error_type": saved.get("error_type"),
                    "error": saved.get("error")}
        prefix = "" if status == "save-error" else f"the save {status}ed: "
        return {"status": Status.SAVE_ERROR, "error_type": saved.get("error_type"),
                "error": prefix + str(saved.get("error") or "")}

    def _load_batch(self, eid: EnvId, requests: list[dict]) -> None:
        env = self.envs[eid]
        work = self._work_dir("load", env)

        def on_result(req, result):
            cell = Cell(**req["cell"])
            saved = self.save_results[((cell.save_tf, cell.save_device), cell.model,
                                       cell.format)]
            status = result.get("status")
            if status == "ok":
                npz = work / f"{req['id']}.npz"
                try:
                    fields = judge(result | {"loader": cell.loader}, npz,
                                   Path(req["reference_dir"]), saved.get("manifest", {}),
                                   tolerance_for_dtype=partial(self.matrix.tolerance,
                                                               cell.format))
                except Exception as exc:  # a comparison bug must not lose the run
                    fields = {"status": Status.CRASH, "error_type": type(exc).__name__,
                              "error": f"comparison failed: {exc}"}
            elif status == "error":  # the worker itself failed outside the loader
                fields = {"status": Status.LOAD_ERROR, "error_type": result.get("error_type"),
                          "error": "worker: " + str(result.get("error"))}
            else:
                fields = {"status": Status(status), "error_type": result.get("error_type"),
                          "error": result.get("error")}
            fields["seconds"] = result.get("seconds")
            fields["log"] = result.get("log")
            self._finish(cell, fields)

        execute.run_batch(env, "load", requests, work, on_result=on_result,
                          cell_timeout=self.opts.cell_timeout, stop=self.stop)

    def _finish(self, cell: Cell, fields: dict) -> None:
        if self.stop.is_set():
            return  # interrupted: this cell is left for --resume
        save_id, load_id = (cell.save_tf, cell.save_device), (cell.load_tf, cell.load_device)
        save_env, load_env = self.envs[save_id], self.envs[load_id]
        saved = self.save_results.get((save_id, cell.model, cell.format), {})
        row = dict.fromkeys(COLUMNS) | cell.as_dict() | {
            "on_disk_format": saved.get("on_disk_format"),
            "save_versions": _versions(save_env), "load_versions": _versions(load_env),
            "save_env": save_env.identity(), "load_env": load_env.identity(),
        } | fields
        row["status"] = str(row["status"])
        self.run.append(json.loads(json.dumps(row, default=str)))
        with self._count_lock:
            self.done += 1
            done = self.done
        short = row["status"] + (f" ({row['error_type']})" if row.get("error_type") else "")
        self.progress(f"cell {done}/{len(self.cells)}: {env_name(save_id)}->{env_name(load_id)} "
                      f"{cell.model}/{cell.format} {cell.loader}: {short}")
