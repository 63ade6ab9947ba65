"""Benchmark of a run: wall time, cells per minute, TF import time vs time in cells, and the
same cells done one process per cell (on a sample), as a ratio.

    python bench/run_bench.py [--matrix bench/bench.toml] [-j 2] [--sample 6] [--json OUT]

Three measurements of the same fixed matrix:
  cold   an empty save cache: every artifact saved (what a first run costs)
  warm   the same run again: every save from the save cache
  1-proc a sample of the load cells, each in a fresh worker process (TF imported per cell), as
         a tool without batching would do it; its mean per cell against the batched runs'.
Speed targets belong here, never in the test suite's assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harness import execute  # noqa: E402
from harness.matrix import Matrix  # noqa: E402
from harness.runner import Progress, Run, RunOptions  # noqa: E402


def _quiet() -> Progress:
    return Progress(stream=open(os.devnull, "w"))  # noqa: SIM115


def timed_run(matrix: Matrix, results: Path, run_id: str, jobs: int):
    run = Run(RunOptions(matrix=matrix, results_dir=results, run_id=run_id, jobs=jobs,
                         save_cache_dir=results / "saves"), _quiet())
    run.prepare_envs()  # environments are built (or found) before the clock starts
    t0 = time.monotonic()
    run_dir = run.execute()
    wall = time.monotonic() - t0
    return run, run_dir, wall


def split_times(run_dir: Path) -> dict:
    """TF import seconds of every worker process vs seconds inside cells (saves and loads)."""
    imports, workers, save_s, load_s = 0.0, 0, 0.0, 0.0
    for versions in run_dir.glob("work/*/versions.json"):
        info = json.loads(versions.read_text())
        imports += float(info.get("import_seconds") or 0)
        workers += 1
    for res in run_dir.glob("work/save-*/s*.json"):
        save_s += float(json.loads(res.read_text()).get("seconds") or 0)
    rows = [json.loads(ln) for ln in (run_dir / "cells.jsonl").read_text().splitlines() if ln]
    load_s = sum(float(r.get("seconds") or 0) for r in rows)
    return {"cells": len(rows), "workers": workers, "import_seconds": round(imports, 1),
            "save_cell_seconds": round(save_s, 1), "load_cell_seconds": round(load_s, 1)}


def one_process_per_cell(run: Run, sample: int, work: Path) -> list[float]:
    """Wall seconds of each sampled load cell run alone in a fresh worker."""
    loaded = [r for r in run.run.rows() if r["status"] not in ("save-error", "unsupported")]
    step = max(1, len(loaded) // max(1, sample))
    picked = loaded[::step][:sample]
    times = []
    for i, r in enumerate(picked):
        save_id, load_id = (r["save_tf"], r["save_device"]), (r["load_tf"], r["load_device"])
        req = {"id": "l0000", "model": r["model"], "format": r["format"], "loader": r["loader"],
               "artifact_dir": str(run._artifact_dir(save_id, r["model"], r["format"])),
               "reference_dir": str(run._artifact_dir(save_id, r["model"]))}
        t0 = time.monotonic()
        execute.run_batch(run.envs[load_id], "load", [req], work / f"cell-{i}",
                          on_result=lambda req, res: None)
        times.append(time.monotonic() - t0)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matrix", type=Path, default=HERE / "bench.toml")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sample", type=int, default=6, help="cells run one process each")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    matrix = Matrix.load(args.matrix)
    out: dict = {"matrix": str(args.matrix), "jobs": args.jobs, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        tmp = Path(tmp)
        for name in ("cold", "warm"):  # the cold run fills a fresh save cache, the warm reads it
            run, run_dir, wall = timed_run(matrix, tmp, name, args.jobs)
            figs = split_times(run_dir.path) | {"wall_seconds": round(wall, 1)}
            figs["cells_per_minute"] = round(figs["cells"] / wall * 60, 1)
            figs["save_cache_hits"] = run.cache_hits
            out[name] = figs
        singles = one_process_per_cell(run, args.sample, tmp / "single")
        per_cell_single = statistics.mean(singles)
        per_cell_batched = out["warm"]["wall_seconds"] / out["warm"]["cells"]
        out["one_process_per_cell"] = {
            "sample": len(singles), "mean_seconds_per_cell": round(per_cell_single, 2),
            "batched_seconds_per_cell": round(per_cell_batched, 3),
            "ratio": round(per_cell_single / per_cell_batched, 1),
            "estimated_wall_seconds_for_all_cells": round(per_cell_single
                                                          * out["warm"]["cells"], 1)}
    _print(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


def _print(out: dict) -> None:
    print(f"matrix {out['matrix']}, -j {out['jobs']}, {out['cpus']} CPUs")
    for name in ("cold", "warm"):
        f = out[name]
        print(f"{name:>5}: {f['cells']} cells in {f['wall_seconds']} s wall = "
              f"{f['cells_per_minute']} cells/min; {f['workers']} TF processes spent "
              f"{f['import_seconds']} s importing TF vs {f['save_cell_seconds']} s saving and "
              f"{f['load_cell_seconds']} s loading in cells; save cache hits "
              f"{f['save_cache_hits']}")
    s = out["one_process_per_cell"]
    print(f"1-proc: {s['sample']} sampled cells, {s['mean_seconds_per_cell']} s per cell alone "
          f"vs {s['batched_seconds_per_cell']} s per cell batched (warm) = {s['ratio']}x; all "
          f"{out['warm']['cells']} cells that way: ~{s['estimated_wall_seconds_for_all_cells']} s")


if __name__ == "__main__":
    sys.exit(main())
