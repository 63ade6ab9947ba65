"""A past run's measured seconds per cell, for cutting shards by cost (harness.plan.shards):
`--shard-costs RUN`, or the newest complete run of the same matrix under the results folder."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..plan.cells import Cell
from ..plan.shards import Costs
from .store import read_run


def read_costs(run: Path) -> Costs:
    """The `seconds` of each cell row of a run folder that was really loaded there: a cell
    reused from the load cache (`reused_from`) records what reusing it cost, not a load."""
    data = read_run(Path(run))
    seconds = {}
    for row in data.rows:
        s = row.get("seconds")
        if row.get("reused_from"):
            continue
        if isinstance(s, (int, float)) and s >= 0:
            try:
                seconds[Cell.from_row(row).key()] = float(s)
            except (KeyError, TypeError, ValueError):
                continue
    if not seconds:
        raise UserError(f"--shard-costs {run}: no cell of that run was loaded there (none "
                        "records a load's seconds: every one was reused)")
    return Costs(seconds, str(data.info.get("run_id") or Path(run).name))


MEASURED_SHARE = 0.5  # a run that loaded fewer of its cells itself is no cost source


def given_costs(run: Path) -> Costs | None:
    """`--shard-costs RUN`: its costs, or None (cut by cell count, said on stderr) when it
    loaded no cell itself (a night served all from the load cache).  Every shard reading the
    same RUN decides the same way, so the slices still tile the plan."""
    import sys

    try:
        return read_costs(run)
    except UserError as exc:
        if "every one was reused" not in str(exc):
            raise
        print(f"harness: note: {exc}; cutting the shards by cell count", file=sys.stderr)
        return None


def find_costs(results_dir: Path, definition: dict) -> Costs | None:
    """The newest complete, unsharded (or merged) run of the same matrix under results_dir."""
    found = []
    for info_file in Path(results_dir).glob("*/run.json"):
        try:
            info = json.loads(info_file.read_bytes())
        except (OSError, ValueError):
            continue
        m = info.get("matrix") if isinstance(info, dict) else None
        if not isinstance(m, dict) or m.get("definition") != definition or m.get("shard"):
            continue
        found.append((str(info.get("finished") or ""), info_file.stat().st_mtime,
                      info_file.parent))
    for *_, run in sorted(found, reverse=True):
        data = read_run(run)
        if data.missing:
            continue
        try:
            costs = read_costs(run)
        except UserError:
            continue
        if len(costs.seconds) >= MEASURED_SHARE * len(data.rows):  # not a warm repeat
            return costs
    return None


def choose_costs(choice: str | None, results_dir: Path, definition) -> Costs | None:
    """What `--shard-costs` (run and plan) names: `none` -> None (by cell count), a run folder ->
    its costs (given_costs), unset -> the newest fitting run under results_dir (find_costs) of
    the matrix `definition()` gives."""
    if choice == "none":
        return None
    if choice:
        return given_costs(Path(choice))
    return find_costs(results_dir, definition())
