"""What a run writes about itself in run.json (its plan, environments and options), and the
work it plans, as the progress display's ETA needs it."""

from __future__ import annotations

from .. import clock
from ..plan.cells import env_name
from .context import Layout, PhaseContext


def run_info(run) -> dict:
    """run.json of a new run (harness.run.runner.Run)."""
    m, opts, plan = run.matrix, run.opts, run.plan
    devices = list(dict.fromkeys(m.save_devices + m.load_devices))
    return {
        "run_id": run.run.path.name,
        "command": opts.command,
        "started": clock.now(),
        "matrix": {"spec": m.source if m.source != "command line" else None,
                   "name": m.name, "save": m.save, "load": m.load, "models": m.models,
                   "formats": m.formats, "loaders": m.loaders, "devices": devices,
                   "as_of": m.as_of, "backend": opts.backend,
                   "shard": list(plan.shard) if plan.shard else None,
                   "shard_bounds": list(plan.shard_bounds) if plan.shard_bounds else None,
                   "shard_costs": plan.shard_costs_source,
                   "only": ([list(k) for k in sorted(opts.only)]
                            if opts.only is not None else None),
                   "cells": len(plan.planned), "definition": m.to_dict(),
                   "cell_keys": ([list(c.key()) for c in plan.planned]
                                 if opts.cells is not None else None),
                   "presaved": [p.to_json() for p in run.layout.presaved.values()] or None},
        "environments": env_info(run),
        "save_cache": str(run.ctx.saves.root) if run.ctx.saves else None,
        "options": {"jobs": opts.jobs, "cell_timeout": opts.cell_timeout,
                    "python": opts.python, "batch_size": opts.batch_size,
                    "unsafe": opts.unsafe},
    }


def env_info(run) -> dict:
    return {env_name(s.label, s.device): {
        "key": env.key, "backend": env.backend, "label": s.label, "device": s.device,
        "requested": env.requested(), "resolved": env.info,
        "unsupported": run.unavailable.get(s)} for s, env in run.envs.items()}


def planned_work(ctx: PhaseContext) -> tuple[dict, dict]:
    """For the progress display's ETA: saves per (save environment, model) where the save
    environment runs here, cells per (save environment, load environment, model) where the
    load environment does."""
    saves: dict[tuple[str, str], int] = {}
    for spec, model, _ in {(Layout.save_spec(c), c.model, c.format) for c in ctx.cells
                           if not ctx.layout.presaved_of(c)}:
        if spec not in ctx.unavailable:
            key = (env_name(spec.label, spec.device), model)
            saves[key] = saves.get(key, 0) + 1
    cells: dict[tuple[str, str, str], int] = {}
    if ctx.pipeline is not None:
        for c in ctx.cells:
            if Layout.load_spec(c) not in ctx.unavailable:
                key = (env_name(c.save_tf, c.save_device), env_name(c.load_tf, c.load_device),
                       c.model)
                cells[key] = cells.get(key, 0) + 1
    return saves, cells
