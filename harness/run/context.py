"""What the save and load phases see of a run: a narrow, typed context instead of the whole Run.

`RunOptions` is what the user asked for (the CLI and the pytest plugin fill it).  `Layout` says
where each cell's save comes from and where its artifact lives.  `Tally` counts what the run
reused.  `Sink` is where outcomes go (the Run: a recorded save feeds its loads; a finished cell
becomes a row).  `PhaseContext` bundles them with the environments, caches, progress display
and worker starter (harness.run.workers), the way tox 4 hands its environments one typed
argument object; harness.run.runner builds it and the phases read nothing else."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..cache.loads import LoadCache
from ..cache.saves import SaveCache
from ..envs import default_cache_dir
from ..plan.cells import Cell
from ..plan.matrix import Matrix
from ..plan.presaved import Presaved
from ..plan.requests import LoadRequest
from ..plan.specs import EnvSpec
from ..verdict.rows import LoadOutcome
from .progress import Progress

SaveKey = tuple[EnvSpec, str, str]  # (save environment, model, format)


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


@dataclass
class Layout:
    """Where each cell's save comes from (this run's save environment, or a pre-saved
    artifact) and where its artifact and reference live in the run folder."""

    envs: dict[EnvSpec, Any]
    presaved: dict[tuple, Presaved]
    saved: dict[SaveKey, dict] = field(default_factory=dict)  # save outcomes recorded so far
    run_path: Path | None = None  # set when the run folder is open

    def presaved_of(self, c: Cell) -> Presaved | None:
        return self.presaved.get((c.save_tf, c.model, c.format))

    @staticmethod
    def save_spec(c: Cell) -> EnvSpec:
        return EnvSpec.parse(c.save_tf, device=c.save_device)

    @staticmethod
    def load_spec(c: Cell) -> EnvSpec:
        return EnvSpec.parse(c.load_tf, device=c.load_device)

    def save_key(self, c: Cell) -> tuple:
        pre = self.presaved_of(c)
        return ("presaved", *pre.key) if pre else (self.save_spec(c), c.model, c.format)

    @staticmethod
    def is_presaved(key: tuple) -> bool:
        return key[0] == "presaved"

    def artifact_dir(self, spec: EnvSpec, model: str, fmt: str | None = None) -> Path:
        base = self.run_path / "artifacts" / self.envs[spec].key / model
        return base / fmt if fmt else base

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

    def mounts(self) -> list[Path]:
        """Where the artifacts of fed requests live: the run's, and those of pre-saved ones."""
        out = [self.run_path / "artifacts"]
        for p in self.presaved.values():
            out += [p.artifact_dir, p.reference_dir]
        return out


@dataclass
class Tally:
    """What the run reused, and the load cache keys of the cells it sent to workers."""

    save_hits: int = 0
    reused: int = 0
    load_keys: dict[LoadRequest, str | None] = field(default_factory=dict)


class Sink(Protocol):
    """Where the phases send outcomes (harness.run.runner.Run)."""

    def record_saved(self, key: SaveKey, result: dict) -> None: ...

    def finish(self, cell: Cell, saved: dict, *, load: LoadOutcome | None = None,
               unavailable: str | None = None, reused_from: str | None = None) -> None: ...


@dataclass
class PhaseContext:
    """Everything the save and load phases read, and the one place their outcomes go."""

    opts: RunOptions
    cells: list[Cell]  # the cells this run still has to do
    envs: dict[EnvSpec, Any]
    unavailable: dict[EnvSpec, str]  # environment -> why it cannot run here
    layout: Layout
    saves: SaveCache | None
    loads: LoadCache | None
    progress: Progress
    workers: Any  # harness.run.workers.Workers: how a phase starts a worker batch
    sink: Sink
    paths: Any = None  # machine paths scrubbed from what is shown (harness.scrub.machine_paths)
    tally: Tally = field(default_factory=Tally)
    save_groups: int = 1  # save workers per save environment
    pipeline: Any = None  # the LoadPipeline (harness.run.load_phase) once the loads start
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # Ctrl-C / SIGTERM
