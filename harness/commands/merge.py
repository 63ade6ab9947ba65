"""`harness merge RUN... --out DIR`: join the shards of one matrix (or a run and its resumes on
other machines) into one run folder that every report reads like a run made in one go."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("merge", help="join shards (harness run --shard K/N) into one run")
    p.add_argument("runs", nargs="+", type=Path, help="run folders (results/<run-id>)")
    p.add_argument("--out", type=Path, required=True, help="the merged run folder to create")
    p.add_argument("--allow-missing", action="store_true",
                   help="write the merged run even when planned cells are in no shard "
                        "(it then stays incomplete: `harness check` is not green on it)")


def _read(run: Path) -> tuple[dict, list[dict]]:
    from ..results import read_run

    data = read_run(run)
    if data.bad_lines:
        print(f"harness: warning: {run}: {data.bad_lines} line(s) of cells.jsonl are not cell "
              "rows and were left out", file=sys.stderr)
    return data.info, data.rows


def _definition(info: dict) -> dict | None:
    return (info.get("matrix") or {}).get("definition")


def merge(runs: list[Path], out: Path, allow_missing: bool = False) -> dict:
    """Write the merged run; return a summary (rows, duplicates, missing)."""
    from ..matrix import Matrix
    from ..plan import Cell
    from ..results import RunDir

    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} exists and is not empty")
    infos, rows, seen, duplicates = [], [], set(), 0
    for run in runs:
        info, run_rows = _read(run)
        if infos and _definition(info) != _definition(infos[0]):
            raise UserError(f"{run} ran another matrix than {runs[0]}; merge only shards of "
                            "one matrix")
        costs = (info.get("matrix") or {}).get("shard_costs")
        if infos and (info.get("matrix") or {}).get("shard") and \
                costs != (infos[0].get("matrix") or {}).get("shard_costs"):
            raise UserError(f"{run} was cut by the costs of {costs or 'cell count'}, {runs[0]} by "
                            f"{(infos[0].get('matrix') or {}).get('shard_costs') or 'cell count'}: "
                            "their slices do not tile the plan; run every shard with the same "
                            "--shard-costs")
        infos.append(info)
        for r in run_rows:
            key = Cell.from_row(r).key()
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            rows.append(r)
    planned = None
    if _definition(infos[0]):
        planned = {c.key() for c in Matrix.from_dict(_definition(infos[0])).cells()}
    missing = len(planned - seen) if planned is not None else None
    if missing and not allow_missing:
        raise UserError(f"{missing} of {len(planned)} planned cells are in no run given (a shard "
                        "missing or unfinished?); finish it with `harness run --resume`, or "
                        "merge anyway with --allow-missing")
    first = infos[0]
    merged = dict(first)
    merged["run_id"] = out.name
    merged["matrix"] = dict(first.get("matrix") or {}) | {
        "shard": None, "shard_bounds": None, "shard_costs": None,
        "cells": len(planned) if planned is not None else len(rows)}
    merged["environments"] = {}
    for info in infos:
        merged["environments"] |= info.get("environments") or {}
    stamps = [i.get("started") for i in infos if i.get("started")]
    ends = [i.get("finished") for i in infos if i.get("finished")]
    merged["started"] = min(stamps) if stamps else None
    merged["finished"] = max(ends) if ends and len(ends) == len(infos) else None
    merged["merged_from"] = [{"path": str(run), "run_id": i.get("run_id"),
                              "shard": (i.get("matrix") or {}).get("shard"),
                              "shard_costs": (i.get("matrix") or {}).get("shard_costs"),
                              "host": i.get("host"), "started": i.get("started"),
                              "finished": i.get("finished")}
                             for run, i in zip(runs, infos, strict=True)]
    merged["merge"] = {"rows": len(rows), "duplicates": duplicates, "missing": missing}
    out.mkdir(parents=True, exist_ok=True)
    run_dir = RunDir(out)
    run_dir.write_run_info(merged)
    with open(run_dir.cells_file, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return merged["merge"]


def main(args) -> int:
    summary = merge(args.runs, args.out, allow_missing=args.allow_missing)
    print(f"merged {len(args.runs)} run(s): {summary['rows']} cells into {args.out}"
          + (f"; {summary['duplicates']} duplicate row(s) dropped" if summary["duplicates"]
             else ""))
    if summary["missing"]:
        print(f"harness: warning: {summary['missing']} planned cell(s) are in no shard "
              "(a shard did not finish?); the merged run is incomplete", file=sys.stderr)
        return 1
    return 0
