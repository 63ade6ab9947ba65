"""Shards: which slice of a plan this job runs, and slices balanced by what cells cost.

- `--shard auto` reads the index and total a CI system hands each parallel job (AUTO_SOURCES);
- a shard is a contiguous run of the plan in a fixed order (load environment first, so a shard
  starts few TF workers), cut where the cells' measured seconds, from an earlier complete run of
  the same matrix, reach k/n of the total; without such a run, by cell count;
- the cut is recorded in run.json (`shard_bounds`), so `--resume` finishes the same slice even if
  the runs it was costed from have changed since."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import UserError
from .cells import Cell, PlanError

# (variable holding the index, its base, variable holding the total, who sets them)
AUTO_SOURCES = (
    ("HARNESS_SHARD_INDEX", 1, "HARNESS_SHARD_TOTAL", "the workflow (GitHub Actions matrix)"),
    ("CI_NODE_INDEX", 1, "CI_NODE_TOTAL", "GitLab CI `parallel:`"),
    ("CIRCLE_NODE_INDEX", 0, "CIRCLE_NODE_TOTAL", "CircleCI `parallelism:`"),
    ("BUILDKITE_PARALLEL_JOB", 0, "BUILDKITE_PARALLEL_JOB_COUNT", "Buildkite `parallelism:`"),
    ("JOB_COMPLETION_INDEX", 0, "HARNESS_SHARD_TOTAL", "a Kubernetes Indexed Job"),
)
TF_IMPORT_SECONDS = 5.0  # a shard that starts one more load environment pays a TF import


def auto_shard(environ=None) -> tuple[tuple[int, int], str]:
    """(k, n) 1-based from the first CI source whose variables are set, and its name."""
    env = os.environ if environ is None else environ
    for index_var, base, total_var, who in AUTO_SOURCES:
        if env.get(index_var, "") == "":
            continue
        index, total = env[index_var].strip(), env.get(total_var, "").strip()
        if not total:
            raise UserError(f"--shard auto: {index_var} is set ({who}) but {total_var} is not; "
                            f"set {total_var} to the number of shards")
        if not index.isdigit() or not total.isdigit() or int(total) < 1 \
                or not base <= int(index) < int(total) + base:
            raise UserError(f"--shard auto: {index_var}={index!r} and {total_var}={total!r} "
                            f"({who}) are no index of a shard (from {base} to {total} - 1 + "
                            f"{base})")
        return (int(index) - base + 1, int(total)), f"{index_var}/{total_var} ({who})"
    names = ", ".join(f"{i}+{t}" for i, _, t, _ in AUTO_SOURCES)
    raise UserError(f"--shard auto: no CI shard index in the environment (looked for {names}); "
                    "give --shard K/N")


@dataclass
class Costs:
    """Measured seconds per cell key, and the run they came from."""

    seconds: dict[tuple, float]
    source: str

    def of(self, cells: list[Cell]) -> list[float]:
        """Each cell's cost in the given order: its measured seconds (the mean of the measured
        ones where it has none), plus a TF import where the load environment changes."""
        known = [self.seconds[c.key()] for c in cells if c.key() in self.seconds]
        mean = sum(known) / len(known) if known else 1.0
        out, env = [], None
        for c in cells:
            cost = self.seconds.get(c.key(), mean)
            if (c.load_tf, c.load_device) != env:
                env = (c.load_tf, c.load_device)
                cost += TF_IMPORT_SECONDS
            out.append(cost)
        return out


def _shard_order(c: Cell) -> tuple:
    # Cells of one load environment stay together, so a shard starts few load workers.
    return (c.load_tf, c.load_device, c.save_tf, c.save_device, c.model, c.format, c.loader)


def shard_cells(cells: list[Cell], k: int, n: int) -> list[Cell]:
    """The K-th of N contiguous, nearly equal slices of the cells in a fixed order: the same
    on every machine, disjoint, and together exactly the whole plan."""
    return slice_cells(cells, bounds(cells, n)[k - 1])


def bounds(cells: list[Cell], n: int, costs: Costs | None = None) -> list[tuple[int, int]]:
    """The n slices [lo, hi) of the cells in shard order: equal counts, or equal costs."""
    ordered = sorted(cells, key=_shard_order)
    if costs is None:
        return [(len(ordered) * (k - 1) // n, len(ordered) * k // n) for k in range(1, n + 1)]
    weights = costs.of(ordered)
    total = sum(weights)
    cuts, acc, i = [0], 0.0, 0
    for k in range(1, n):
        target = total * k / n
        while i < len(ordered) and acc + weights[i] / 2 < target:
            acc += weights[i]
            i += 1
        cuts.append(max(i, cuts[-1]))
    cuts.append(len(ordered))
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def slice_cells(cells: list[Cell], span: tuple[int, int]) -> list[Cell]:
    """The cells of one slice, in the plan's own order."""
    ordered = sorted(cells, key=_shard_order)
    lo, hi = span
    if not 0 <= lo <= hi <= len(ordered):
        raise PlanError(f"shard bounds {lo}-{hi} do not fit a plan of {len(ordered)} cells")
    chosen = set(ordered[lo:hi])
    return [c for c in cells if c in chosen]


def plan_shards(cells: list[Cell], n: int, costs: Costs | None) -> list[dict]:
    """What `harness plan --shards N` prints: per shard its cells, estimated seconds and load
    environments."""
    ordered = sorted(cells, key=_shard_order)
    weights = costs.of(ordered) if costs else None
    out = []
    for k, (lo, hi) in enumerate(bounds(cells, n, costs), start=1):
        part = ordered[lo:hi]
        out.append({"shard": f"{k}/{n}", "index": k, "total": n, "cells": len(part),
                    "seconds": round(sum(weights[lo:hi]), 1) if weights else None,
                    "load_envs": len({(c.load_tf, c.load_device) for c in part})})
    return out
