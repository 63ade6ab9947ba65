"""Benchmark of a run against real anchors, side by side on the same cells, in one go:

    python bench/run_bench.py [--matrix bench/bench.toml] [-j 2] [--json OUT] [--skip-naive]

  (a) harness cold    empty save and load caches: every artifact saved and loaded
      harness warm    the same run again: saves from the save cache, loads from the load cache
                      (what a nightly costs when nothing changed upstream)
      reloads         saves from the save cache, every load redone (--fresh)
  (b) -j 1            the cold run with one worker at a time
  (c) naive           what a user would script: for each save-version x load-version pair, one
                      process saves every artifact, then one process loads them all; one pair
                      after the other, nothing reused
  (d) floor           (one TF import per environment + seconds inside cells) / cores, from the
                      cold run's own figures: no scheduler can beat it
  incremental         the warm run after one load environment changed (a package installed into
                      it): wall time and how many cells ran again (exactly that environment's)

Then where (a)'s core-seconds went beyond the floor (bench/timeline.py): no worker on a core,
TF imports, inside cells, between cells.  `--cold-only` runs (a) cold and (d) alone, with that
breakdown: the quick loop when working on the scheduler.

Every figure is printed with its ratio to (a) cold.  Speed targets belong here, never in the
test suite's assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from timeline import breakdown, print_breakdown  # noqa: E402  (bench/timeline.py)

from harness.envs.uv import run_uv  # noqa: E402
from harness.plan.matrix import Matrix  # noqa: E402
from harness.plan.requests import LoadRequest, SaveRequest  # noqa: E402
from harness.run import batch as execute  # noqa: E402
from harness.run.context import Layout  # noqa: E402
from harness.run.progress import make_progress  # noqa: E402
from harness.run.runner import Run, RunOptions  # noqa: E402

EXTRA_PACKAGE = "humanize==4.9.0"  # pure Python, imported by nothing: a harmless "upstream change"


def timed_run(matrix: Matrix, tmp: Path, run_id: str, jobs: int, *, fresh: bool = False):
    run = Run(RunOptions(matrix=matrix, results_dir=tmp / "results", run_id=run_id, jobs=jobs,
                         save_cache_dir=tmp / "saves", load_cache=not fresh,
                         cache_dir=_cache_dir(tmp)), make_progress("quiet"))
    run.prepare_envs()  # environments are built (or found) before the clock starts
    t0 = time.monotonic()
    run_dir = run.execute()
    return run, run_dir.path, time.monotonic() - t0


def _cache_dir(tmp: Path) -> Path:
    """The environments of the real cache (built once), but loads/ of this benchmark's own."""
    from harness.envs import default_cache_dir

    real = default_cache_dir()
    mine = tmp / "cache"
    if not mine.exists():
        mine.mkdir()
        for name in ("envs", "locks", "docker"):
            if (real / name).exists():
                (mine / name).symlink_to(real / name)
    return mine


def split_times(run_dir: Path) -> dict:
    """TF imports (all, and the least per environment) vs seconds inside cells."""
    imports, per_env, workers, save_s = 0.0, {}, 0, 0.0
    for versions in run_dir.glob("work/*/versions.json"):
        seconds = float(json.loads(versions.read_text()).get("import_seconds") or 0)
        # <phase>-<env key>[.<n>]: the key holds the version's dots, .<n> a further worker's
        env = re.sub(r"\.\d+$", "", versions.parent.name.split("-", 1)[1])
        per_env[env] = min(per_env.get(env, seconds), seconds)
        imports += seconds
        workers += 1
    for res in run_dir.glob("work/save-*/s*.json"):
        save_s += float(json.loads(res.read_text()).get("seconds") or 0)
    rows = [json.loads(ln) for ln in (run_dir / "cells.jsonl").read_text().splitlines() if ln]
    load_s = sum(float(r.get("seconds") or 0) for r in rows if not r.get("reused_from"))
    return {"cells": len(rows), "workers": workers, "import_seconds": round(imports, 1),
            "one_import_per_env_seconds": round(sum(per_env.values()), 1),
            "save_cell_seconds": round(save_s, 1), "load_cell_seconds": round(load_s, 1),
            "cells_run": sum(1 for r in rows if not r.get("reused_from")
                             and r["status"] not in ("save-error", "unsupported"))}


def naive(run: Run, tmp: Path) -> float:
    """One save process then one load process per (save, load) pair, in turn, nothing kept."""
    cells = run.planned
    t0 = time.monotonic()
    save, load = Layout.save_spec, Layout.load_spec
    for s_spec in dict.fromkeys(save(c) for c in cells):
        for l_spec in dict.fromkeys(load(c) for c in cells if save(c) == s_spec):
            pair = [c for c in cells if save(c) == s_spec and load(c) == l_spec]
            work = tmp / "naive" / f"{s_spec.label}-{l_spec.label}"
            arts = {(c.model, c.format): (work / "a" / c.model / c.format, work / "a" / c.model)
                    for c in pair}
            saves = [SaveRequest(f"s{i:04d}", m, f, a, r)
                     for i, ((m, f), (a, r)) in enumerate(arts.items())]
            ok = set()
            execute.run_batch(run.envs[s_spec], "save", saves, work / "save",
                              on_result=lambda req, res, ok=ok: res.get("status") == "ok"
                              and ok.add((req.model, req.format)))
            loads = [LoadRequest(f"l{i:04d}", c, *arts[(c.model, c.format)])
                     for i, c in enumerate(c for c in pair if (c.model, c.format) in ok)]
            execute.run_batch(run.envs[l_spec], "load", loads, work / "load",
                              on_result=lambda req, res: None)
    return time.monotonic() - t0


def change_one_env(run: Run, install: bool) -> str:
    """Install (or remove) a package in the last load environment: its resolved set changes."""
    spec = list(dict.fromkeys(Layout.load_spec(c) for c in run.planned))[-1]
    interp = str(run.envs[spec].interpreter)
    args = (["pip", "install", "--python", interp, EXTRA_PACKAGE] if install else
            ["pip", "uninstall", "--python", interp, EXTRA_PACKAGE.split("==")[0]])
    out = run_uv(*args, timeout=600)
    if out.returncode:
        raise SystemExit(f"cannot change environment {spec.label}: {out.reason}")
    return spec.label


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matrix", type=Path, default=HERE / "bench.toml")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-naive", action="store_true", help="leave out anchor (c)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--cold-only", action="store_true",
                    help="only (a) cold, (d) floor and where the gap between them goes")
    args = ap.parse_args(argv)
    matrix = Matrix.load(args.matrix)
    cores = args.jobs
    out: dict = {"matrix": str(args.matrix), "jobs": args.jobs, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        tmp = Path(tmp)
        run, path, wall = timed_run(matrix, tmp, "cold", args.jobs)
        out["cold"] = split_times(path) | {"wall_seconds": round(wall, 1)}
        cold = out["cold"]
        out["floor_seconds"] = round((cold["one_import_per_env_seconds"] + cold["save_cell_seconds"]
                                      + cold["load_cell_seconds"]) / cores, 1)
        out["cold_breakdown"] = breakdown(path, cores)
        if args.cold_only:
            _print(out)
            return 0
        _, path, wall = timed_run(matrix, tmp, "warm", args.jobs)
        out["warm"] = split_times(path) | {"wall_seconds": round(wall, 1)}
        _, path, wall = timed_run(matrix, tmp, "reloads", args.jobs, fresh=True)
        out["reloads"] = split_times(path) | {"wall_seconds": round(wall, 1)}
        changed = change_one_env(run, install=True)
        try:
            _, path, wall = timed_run(matrix, tmp, "one-env-changed", args.jobs)
            out["one_env_changed"] = split_times(path) | {"wall_seconds": round(wall, 1),
                                                          "environment": changed}
        finally:
            change_one_env(run, install=False)
        j1 = tmp / "j1"
        j1.mkdir()
        _, path, wall = timed_run(matrix, j1, "cold-j1", 1)
        out["j1"] = split_times(path) | {"wall_seconds": round(wall, 1)}
        if not args.skip_naive:
            out["naive_wall_seconds"] = round(naive(run, tmp), 1)
    _print(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


def _print(out: dict) -> None:
    _print_anchors(out)
    print("where (a) cold's core-seconds went (bench/timeline.py):")
    print_breakdown(out["cold_breakdown"], "    ")


def _print_anchors(out: dict) -> None:
    cold = out["cold"]["wall_seconds"]

    def line(name: str, wall: float, what: str) -> None:
        print(f"  {name:<22} {wall:7.1f} s   {wall / cold:5.2f}x   {what}")

    c = out["cold"]
    print(f"matrix {out['matrix']}: {c['cells']} cells, -j {out['jobs']}, {out['cpus']} CPUs")
    print(f"  {'':<22} {'wall':>9}   {'vs (a)':>6}")
    line("(a) harness cold", cold, f"{c['workers']} TF processes, {c['import_seconds']} s "
         f"importing TF, {c['save_cell_seconds']} s saving + {c['load_cell_seconds']} s loading "
         "in cells")
    if "warm" in out:  # not with --cold-only
        w = out["warm"]
        line("(a) harness warm", w["wall_seconds"], f"{w['cells_run']} cells run, the rest "
             "reused; = a nightly when nothing changed")
        r = out["reloads"]
        line("    saves cached", r["wall_seconds"], f"every load redone ({r['cells_run']} cells)")
        line("(b) -j 1", out["j1"]["wall_seconds"], "the cold run, one worker at a time")
    if "naive_wall_seconds" in out:
        line("(c) naive script", out["naive_wall_seconds"], "a save then a load process per "
             "version pair, in turn, nothing reused")
    line("(d) floor", out["floor_seconds"], "(one TF import per environment + time inside "
         "cells) / cores")
    if "one_env_changed" not in out:
        return
    e = out["one_env_changed"]
    line("incremental, 1 env", e["wall_seconds"], f"{EXTRA_PACKAGE} installed into "
         f"{e['environment']}: {e['cells_run']} cells ran again")


if __name__ == "__main__":
    sys.exit(main())
