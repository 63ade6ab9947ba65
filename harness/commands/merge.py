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
    p.add_argument("--prefer", choices=("first", "last"), default=None,
                   help="when runs disagree on a cell (another status), keep the row of the "
                        "first or the last run given (default: refuse, naming the cell)")
    p.add_argument("--allow-mixed", action="store_true",
                   help="merge runs whose environment of one name resolved to other versions "
                        "(default: refuse, naming them); the merged run records it as mixed")


def _read(run: Path) -> tuple[dict, list[dict]]:
    from ..results.store import read_run

    data = read_run(run)
    if data.bad_lines:
        print(f"harness: warning: {run}: {data.bad_lines} line(s) of cells.jsonl are not cell "
              "rows and were left out", file=sys.stderr)
    return data.info, data.rows


def _definition(info: dict) -> dict | None:
    return (info.get("matrix") or {}).get("definition")


def _mixed(infos: list[dict], runs: list[Path]) -> list[str]:
    """Environments of one name that resolved to other versions in different runs."""
    first: dict[str, tuple[Path, dict]] = {}
    out = []
    for run, info in zip(runs, infos, strict=True):
        for label, env in (info.get("environments") or {}).items():
            resolved = (env or {}).get("resolved") if isinstance(env, dict) else None
            if not resolved:
                continue
            if label not in first:
                first[label] = (run, resolved)
            elif resolved != first[label][1]:
                keys = sorted(k for k in set(resolved) | set(first[label][1])
                              if resolved.get(k) != first[label][1].get(k))
                out.append(f"{label}: " + ", ".join(
                    f"{k} {first[label][1].get(k)} in {first[label][0]}, {resolved.get(k)} in "
                    f"{run}" for k in keys[:3]))
    return out


def merge(runs: list[Path], out: Path, allow_missing: bool = False, prefer: str | None = None,
          allow_mixed: bool = False) -> dict:
    """Write the merged run; return a summary (rows, duplicates, missing)."""
    from ..plan.cells import Cell
    from ..plan.matrix import Matrix
    from ..results.store import RunDir

    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} exists and is not empty")
    infos, rows, seen, duplicates = [], [], {}, 0
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
                kept = seen[key]
                if rows[kept].get("status") != r.get("status"):
                    if prefer is None:
                        raise UserError(
                            f"{run} and an earlier run disagree on {key[0]} -> {key[2]} "
                            f"{key[4]} / {key[5]} / {key[6]}: {rows[kept]['status']} vs "
                            f"{r['status']}; say which wins with --prefer first|last")
                    if prefer == "last":
                        rows[kept] = r
                continue
            seen[key] = len(rows)
            rows.append(r)
    mixed = _mixed(infos, runs)
    if mixed and not allow_mixed:
        raise UserError("the runs' environments resolved differently (" + "; ".join(mixed)
                        + "): their cells are not one matrix; --allow-mixed merges them anyway "
                        "and marks the run mixed")
    planned = None
    if _definition(infos[0]):
        planned = {c.key() for c in Matrix.from_dict(_definition(infos[0])).cells()}
    missing = len(planned - set(seen)) if planned is not None else None
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
    merged["merge"] = {"rows": len(rows), "duplicates": duplicates, "missing": missing,
                       "prefer": prefer, "mixed_environments": mixed or None}
    out.mkdir(parents=True, exist_ok=True)
    run_dir = RunDir(out)
    run_dir.write_run_info(merged)
    with open(run_dir.cells_file, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return merged["merge"]


def main(args) -> int:
    summary = merge(args.runs, args.out, allow_missing=args.allow_missing, prefer=args.prefer,
                    allow_mixed=args.allow_mixed)
    print(f"merged {len(args.runs)} run(s): {summary['rows']} cells into {args.out}"
          + (f"; {summary['duplicates']} duplicate row(s) dropped" if summary["duplicates"]
             else ""))
    if summary["missing"]:
        print(f"harness: warning: {summary['missing']} planned cell(s) are in no shard "
              "(a shard did not finish?); the merged run is incomplete", file=sys.stderr)
        return 1
    return 0
