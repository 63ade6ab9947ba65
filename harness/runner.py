"""A run from start to end: plan, environments, SAVE phase, LOAD phase, rows as they finish."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import execute
from .envs import default_cache_dir, get_backend
from .judge import judge
from .plan import Cell, plan_cells
from .results import COLUMNS, RunDir
from .specs import EnvSpec
from .vocab import Status

VERSION_KEYS = ("tf", "keras", "tf_keras", "numpy", "h5py", "protobuf", "python")


@dataclass
class RunOptions:
    save: list[str]
    load: list[str]
    models: list[str] | None = None
    formats: list[str] | None = None
    loaders: list[str] | None = None
    results_dir: Path = Path("results")
    cache_dir: Path = field(default_factory=default_cache_dir)
    backend: str = "uv"
    as_of: str | None = None
    python: str | None = None
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    cell_timeout: float = 600.0
    run_id: str | None = None


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


class Run:
    def __init__(self, opts: RunOptions, progress: Progress | None = None):
        self.opts = opts
        self.progress = progress or Progress()
        self.save_specs = [EnvSpec.parse(s) for s in opts.save]
        self.load_specs = [EnvSpec.parse(s) for s in opts.load]
        self.cells = plan_cells(self.save_specs, self.load_specs, opts.models, opts.formats,
                                opts.loaders)
        backend = get_backend(opts.backend)
        specs = {s.label: s for s in self.save_specs + self.load_specs}
        self.envs = {label: backend(spec, opts.cache_dir, as_of=opts.as_of, python=opts.python)
                     for label, spec in specs.items()}
        self.run: RunDir | None = None
        self.save_results: dict[tuple[str, str, str], dict] = {}
        self.done = 0
        self._count_lock = threading.Lock()

    # -- environments -------------------------------------------------------------------
    def prepare_envs(self) -> None:
        for env in self.envs.values():  # every spec checked before the first install
            env.check()
        for label, env in self.envs.items():
            t = time.monotonic()
            env.create(progress=self.progress)
            self.progress(f"env {label}: tf {env.info.get('tf')}, keras {env.info.get('keras')}, "
                          f"numpy {env.info.get('numpy')} ({time.monotonic() - t:.1f}s)")

    # -- the run ------------------------------------------------------------------------
    def execute(self) -> RunDir:
        self.prepare_envs()
        self.run = RunDir.create(self.opts.results_dir, self.opts.run_id)
        self.run.write_run_info({
            "run_id": self.run.path.name,
            "matrix": {"save": self.opts.save, "load": self.opts.load,
                       "models": self.opts.models, "formats": self.opts.formats,
                       "loaders": self.opts.loaders, "as_of": self.opts.as_of,
                       "backend": self.opts.backend, "cells": len(self.cells)},
            "environments": {label: {"key": env.key, "backend": env.backend,
                                     "requested": env.requested(), "resolved": env.info}
                             for label, env in self.envs.items()},
            "options": {k: str(v) for k, v in asdict(self.opts).items()},
        })
        self.progress(f"run {self.run.path}: {len(self.cells)} cells")
        self._save_phase()
        self._load_phase()
        self.progress(f"done: {self.done}/{len(self.cells)} cells in {self.run.cells_file}")
        return self.run

    def _parallel(self, jobs: list) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.opts.jobs)) as pool:
            for fut in [pool.submit(fn) for fn in jobs]:
                fut.result()

    def _artifact_dir(self, save_label: str, model: str, fmt: str | None = None) -> Path:
        base = self.run.path / "artifacts" / self.envs[save_label].key / model
        return base / fmt if fmt else base

    def _save_phase(self) -> None:
        jobs = []
        for label in dict.fromkeys(c.save_tf for c in self.cells):
            pairs = list(dict.fromkeys((c.model, c.format) for c in self.cells
                                       if c.save_tf == label))
            requests = [{"id": f"s{i:04d}", "model": m, "format": f,
                         "artifact_dir": str(self._artifact_dir(label, m, f)),
                         "reference_dir": str(self._artifact_dir(label, m))}
                        for i, (m, f) in enumerate(pairs)]
            jobs.append(lambda label=label, requests=requests: self._save_batch(label, requests))
        self.progress(f"SAVE phase: {sum(1 for _ in jobs)} environment(s)")
        self._parallel(jobs)

    def _save_batch(self, label: str, requests: list[dict]) -> None:
        env = self.envs[label]
        total = len(requests)
        count = [0]

        def on_result(req, result):
            count[0] += 1
            self.save_results[(label, req["model"], req["format"])] = result
            msg = f" ({result.get('error_type')})" if result["status"] != "ok" else ""
            self.progress(f"save {label} {count[0]}/{total}: {req['model']}/{req['format']} "
                          f"{result['status']}{msg}")

        execute.run_batch(env, "save", requests, self.run.path / "work" / f"save-{env.key}",
                          on_result=on_result, cell_timeout=self.opts.cell_timeout)

    def _load_phase(self) -> None:
        jobs = []
        for label in dict.fromkeys(c.load_tf for c in self.cells):
            requests = []
            for c in (c for c in self.cells if c.load_tf == label):
                saved = self.save_results.get((c.save_tf, c.model, c.format), {})
                if saved.get("status") != "ok":
                    self._finish(c, self._unsaved_fields(saved))
                    continue
                requests.append({
                    "id": f"l{len(requests):04d}", "cell": c.as_dict(), "model": c.model,
                    "format": c.format, "loader": c.loader,
                    "artifact_dir": str(self._artifact_dir(c.save_tf, c.model, c.format)),
                    "reference_dir": str(self._artifact_dir(c.save_tf, c.model))})
            if requests:
                jobs.append(lambda label=label, requests=requests: self._load_batch(label,
                                                                                    requests))
        self.progress(f"LOAD phase: {len(jobs)} environment(s)")
        self._parallel(jobs)

    def _unsaved_fields(self, saved: dict) -> dict:
        status = saved.get("status", "crash")
        if status == "unsupported":
            return {"status": Status.UNSUPPORTED, "error": saved.get("error")}
        prefix = "" if status == "save-error" else f"the save {status}ed: "
        return {"status": Status.SAVE_ERROR, "error_type": saved.get("error_type"),
                "error": prefix + str(saved.get("error") or "")}

    def _load_batch(self, label: str, requests: list[dict]) -> None:
        env = self.envs[label]

        def on_result(req, result):
            cell = Cell(**req["cell"])
            saved = self.save_results[(cell.save_tf, cell.model, cell.format)]
            status = result.get("status")
            if status == "ok":
                npz = Path(self.run.path / "work" / f"load-{env.key}" / f"{req['id']}.npz")
                try:
                    fields = judge(result | {"loader": cell.loader}, npz,
                                   Path(req["reference_dir"]), saved.get("manifest", {}))
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

        execute.run_batch(env, "load", requests, self.run.path / "work" / f"load-{env.key}",
                          on_result=on_result, cell_timeout=self.opts.cell_timeout)

    def _finish(self, cell: Cell, fields: dict) -> None:
        save_env, load_env = self.envs[cell.save_tf], self.envs[cell.load_tf]
        saved = self.save_results.get((cell.save_tf, cell.model, cell.format), {})
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
        self.progress(f"cell {done}/{len(self.cells)}: {cell.save_tf}->{cell.load_tf} "
                      f"{cell.model}/{cell.format} {cell.loader}: {short}")
