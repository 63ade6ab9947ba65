"""Which cells a run holds: the matrix (or explicit cells) of its options, the shard it is, the
cells `--only` keeps, and for `--resume` the plan the run folder recorded and what it still
misses.  Pure: nothing is installed or started here."""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import shards
from ..plan.cells import Cell
from ..plan.matrix import Matrix, from_flags
from ..plan.presaved import Presaved
from ..plan.shards import shard_cells
from ..results.store import RunData, RunError
from .context import RunOptions


@dataclass
class RunPlan:
    matrix: Matrix
    shard: tuple[int, int] | None
    planned: list[Cell]  # every cell of this run (or shard)
    cells: list[Cell]  # the planned cells it still has to do
    shard_bounds: tuple[int, int] | None = None
    shard_costs_source: str | None = None


def plan_run(opts: RunOptions, previous: RunData | None) -> RunPlan:
    """The run's plan.  Resuming sets opts.cells / opts.presaved / opts.only from run.json."""
    matrix, shard = _matrix(opts, previous)
    if opts.as_of:
        matrix.as_of = opts.as_of
    planned = list(opts.cells) if opts.cells is not None else matrix.cells()
    bounds = source = None
    if shard:
        span, source = _shard_span(opts, previous, shard, planned)
        if span is None:
            planned = shard_cells(planned, *shard)
        else:
            bounds, planned = span, shards.slice_cells(planned, span)
    if opts.only is not None:
        planned = [c for c in planned if c.key() in opts.only]
    done = previous.present if previous else set()
    return RunPlan(matrix, shard, planned, [c for c in planned if c.key() not in done],
                   bounds, source)


def _matrix(opts: RunOptions, previous: RunData | None):
    if previous:
        return _resumed_matrix(opts, previous)
    if opts.cells is not None and opts.matrix is None:
        return matrix_of(opts.cells), None
    return opts.matrix or from_flags(
        opts.save, opts.load, opts.models, opts.formats, opts.loaders, opts.devices,
        opts.save_devices, opts.load_devices, baseline=opts.baseline), opts.shard


def _resumed_matrix(opts: RunOptions, previous: RunData):
    m = previous.info.get("matrix") or {}
    if isinstance(m.get("cell_keys"), list) and previous.planned is not None:
        opts.cells = previous.planned  # an explicit plan, and its artifacts
        opts.presaved = [Presaved.from_json(d) for d in m.get("presaved") or []]
        return matrix_of(opts.cells), None
    if not isinstance(m.get("definition"), dict):
        raise RunError(f"--resume {opts.resume}: run.json has no matrix to resume")
    if isinstance(m.get("only"), list):
        opts.only = {tuple(k) for k in m["only"]}
    shard = tuple(m["shard"]) if m.get("shard") else None
    return Matrix.from_dict(m["definition"]), shard


def _shard_span(opts, previous, shard, planned):
    """(this shard's [lo, hi) in shard order, the costs' source): the one a resumed run
    recorded, else cut by the given costs; (None, None): the plain count-based slice."""
    m = (previous.info.get("matrix") or {}) if previous else {}
    if m.get("shard_bounds"):
        lo, hi = m["shard_bounds"]
        return (int(lo), int(hi)), m.get("shard_costs")
    if opts.shard_costs is None:
        return None, None
    k, n = shard
    return shards.bounds(planned, n, opts.shard_costs)[k - 1], opts.shard_costs.source


def matrix_of(cells: list[Cell]) -> Matrix:
    """The axes of an explicit plan, for run.json (its cells are not a matrix expansion)."""
    return Matrix(save=list(dict.fromkeys(c.save_tf for c in cells)),
                  load=list(dict.fromkeys(c.load_tf for c in cells)),
                  models=list(dict.fromkeys(c.model for c in cells)),
                  formats=list(dict.fromkeys(c.format for c in cells)),
                  name="cells", source="cells")
